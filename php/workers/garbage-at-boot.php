<?php

declare(strict_types=1);

// Garbage-at-boot: prints text on STDOUT instead of the handshake (an echo
// in the bootstrap code), then stays alive without ever answering.

echo "Deprecated: something in the bootstrap printed this on stdout\n";
echo "and a second line, well past the 12 bytes of a frame header\n";
fflush(STDOUT);
sleep(30);
