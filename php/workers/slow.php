<?php

declare(strict_types=1);

// Slow: sleeps the number of milliseconds in the body.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $ms = (int) $p->body;
    usleep($ms * 1000);
    $worker->respond(new Payload("slept $ms"));
}
