<?php

declare(strict_types=1);

// HTTP side of the payload benchmark (bench/payload/run.sh): answers every
// request with its own body (status 200, application/octet-stream).

require __DIR__ . '/../../php/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());
while ($req = $http->waitRequest()) {
    $http->respond(200, $req->body, ['Content-Type' => 'application/octet-stream']);
}
