<?php

declare(strict_types=1);

// Leak: keeps 1 MiB more per request, like a leaking application.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $GLOBALS['leak'][] = str_repeat(chr(mt_rand(65, 90)), 1 << 20) . mt_rand();
    $worker->respond(new Payload((string) memory_get_usage()));
}
