<?php

declare(strict_types=1);

// An HTTP worker that leaks: every request keeps another 1 MiB alive and
// takes ~20 ms, like a real app with a growing cache.

require __DIR__ . '/../../php/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());
$kept = [];
while ($req = $http->waitRequest()) {
    $kept[] = str_repeat(chr(count($kept) % 256), 1 << 20);
    usleep(20000);
    $http->respond(200, getmypid() . ' ' . count($kept), ['Content-Type' => 'text/plain']);
}
