<?php

declare(strict_types=1);

// Crash at boot: fails before the handshake, every time.
fwrite(STDERR, "crash-at-boot: failing on purpose\n");
exit(1);
