<?php

declare(strict_types=1);

// Workers that keep a graceful stop waiting, for the grace-deadline tests.
// Each route writes "hang: <route> <pid>" to stderr once it is under way.
//   /endless  streams a chunk every 100 ms for ever (ignores cancellation)
//   /fork     forks `sleep 60` holding the worker's stderr, then answers
//   other     "ok"

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());
while ($req = $http->waitRequest()) {
    $path = parse_url($req->uri, PHP_URL_PATH) ?: '/';
    if ($path === '/endless') {
        $http->respond(200, "start\n", ['Content-Type' => 'text/plain'], false);
        fwrite(STDERR, 'hang: endless ' . getmypid() . "\n");
        while (true) {
            usleep(100_000);
            $http->respondChunk("tick\n");
        }
    }
    if ($path === '/fork') {
        $child = proc_open(['sleep', '60'], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => STDERR], $pipes);
        $status = is_resource($child) ? proc_get_status($child) : ['pid' => 0];
        fwrite(STDERR, 'hang: fork ' . $status['pid'] . "\n");
        $http->respond(200, (string) $status['pid']);
        continue;
    }
    $http->respond(200, 'ok');
}
