<?php

declare(strict_types=1);

// Env: answers the RoadRunner variables it was started with.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $env = [];
    foreach (['RR_MODE', 'RR_RELAY', 'RR_RPC', 'RR_VERSION', 'COYOTE_TEST'] as $k) {
        $v = getenv($k);
        $env[$k] = $v === false ? null : $v;
    }
    $worker->respond(new Payload(json_encode($env)));
}
