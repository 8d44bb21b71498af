<?php

declare(strict_types=1);

// Boot-stderr-exit: writes a several-line message to STDERR, like a fatal
// error at boot, and exits 3 before the handshake.

fwrite(STDERR, "PHP Fatal error:  Uncaught RuntimeException: database unreachable\n");
fwrite(STDERR, "Stack trace:\n#0 /app/bootstrap.php(12): connect()\n#1 {main}\n");
fwrite(STDERR, "  thrown in /app/bootstrap.php on line 12\n");
exit(3);
