<?php

declare(strict_types=1);

// Coyote side of the HTTP benchmark: the same two routes as fpm/index.php.

require __DIR__ . '/../../php/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());
while ($req = $http->waitRequest()) {
    if (str_starts_with((string) parse_url($req->uri, PHP_URL_PATH), '/echo')) {
        $http->respond(200, json_encode(['method' => $req->method, 'query' => $req->query(), 'body' => $req->body]), ['Content-Type' => 'application/json']);
    } else {
        $http->respond(200, 'Hello, World!', ['Content-Type' => 'text/plain']);
    }
}
