<?php

declare(strict_types=1);

// Boot-one-fails: of the workers started together, the one that creates
// BOOT_MARKER waits until the BOOT_OTHERS others have appended their pid to
// BOOT_LOG (at most 5 s), then exits 3 at boot; the others serve (echo).

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$log = (string) getenv('BOOT_LOG');
$marker = @fopen((string) getenv('BOOT_MARKER'), 'x');
if ($marker !== false) {
    $others = (int) getenv('BOOT_OTHERS');
    for ($i = 0; $i < 500; $i++) {
        $lines = @file($log, FILE_IGNORE_NEW_LINES) ?: [];
        if (count($lines) >= $others) {
            break;
        }
        usleep(10 * 1000);
    }
    usleep(100 * 1000);
    fwrite(STDERR, "boot-one-fails: this one fails\n");
    exit(3);
}
file_put_contents($log, getmypid() . "\n", FILE_APPEND | LOCK_EX);

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->respond(new Payload($p->body, $p->header));
}
