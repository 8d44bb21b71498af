<?php

declare(strict_types=1);

// Noisy: user code that echoes; the SDK must route it to STDERR.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    echo "noise from user code\n";
    $worker->respond(new Payload($p->body, $p->header));
}
