<?php

declare(strict_types=1);

// Stderr-long-line: per request writes one STDERR line of as many KiB of
// "x" as the body says, then the line "marker after the long line", then
// echoes.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    fwrite(STDERR, str_repeat('x', 1024 * (int) $p->body) . "\n");
    fwrite(STDERR, "marker after the long line\n");
    $worker->respond(new Payload($p->body, $p->header));
}
