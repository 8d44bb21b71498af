<?php

declare(strict_types=1);

// Pid: answers its process id.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->respond(new Payload((string) getmypid(), $p->header));
}
