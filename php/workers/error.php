<?php

declare(strict_types=1);

// Error: every request fails with a job error (a PHP exception).

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->error('boom: ' . $p->body);
}
