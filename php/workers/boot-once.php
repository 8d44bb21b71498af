<?php

declare(strict_types=1);

// Boot-once: every start appends a line to BOOT_LOG. The start that creates
// BOOT_MARKER serves (echoes; exits 1 on "crash"); every later start finds
// the marker and exits 3 before the handshake.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

file_put_contents((string) getenv('BOOT_LOG'), getmypid() . "\n", FILE_APPEND | LOCK_EX);
$marker = @fopen((string) getenv('BOOT_MARKER'), 'x');
if ($marker === false) {
    fwrite(STDERR, "boot-once: already booted once, failing\n");
    exit(3);
}

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    if ($p->body === 'crash') {
        exit(1);
    }
    $worker->respond(new Payload($p->body, $p->header));
}
