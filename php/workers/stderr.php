<?php

declare(strict_types=1);

// Stderr: logs a line per request, then echoes.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    fwrite(STDERR, "stderr line: {$p->body}\n");
    $worker->respond(new Payload($p->body, $p->header));
}
