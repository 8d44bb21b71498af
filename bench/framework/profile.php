<?php

declare(strict_types=1);

/*
 * Where a worker's time goes for the benchmark's request, without a server:
 * the Lumen app of examples/lumen booted once, then N synthetic requests
 * (the JSON context Coyote sends for GET /users/42) through each stage:
 *   decode   the context into Coyote\Http\Request (HttpWorker's decoding)
 *   bridge   Request -> Illuminate\Http\Request (HttpFoundationWorker)
 *   app      Lumen's handle(): router, controller, JsonResponse
 *   respond  the response encoded into frames (to php://temp)
 * Usage: php -d opcache.enable_cli=1 bench/framework/profile.php [N]
 */

require __DIR__ . '/../../php/autoload.php';

use Coyote\Goridge\StreamRelay;
use Coyote\Http\HttpFoundationWorker;
use Coyote\Http\HttpWorker;
use Coyote\Http\Request;
use Coyote\Worker\Worker;

$n = (int) ($argv[1] ?? 20000);
$out = fopen('php://temp', 'w+b');
[$a, $b] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
$app = require __DIR__ . '/../../examples/lumen/bootstrap/app.php';
// As worker.php does: the route dispatcher compiled once.
$app->setDispatcher(FastRoute\simpleDispatcher(static function (FastRoute\RouteCollector $routes) use ($app): void {
    foreach ($app->router->getRoutes() as $route) {
        $routes->addRoute($route['method'], $route['uri'], $route['action']);
    }
}));
$http = new HttpWorker(new Worker(new StreamRelay($b, $out), false));
$bridge = new HttpFoundationWorker($http, Illuminate\Http\UploadedFile::class, Illuminate\Http\Request::class);

$context = json_encode([
    'remoteAddr' => '127.0.0.1', 'protocol' => 'HTTP/1.1', 'method' => 'GET',
    'uri' => 'http://127.0.0.1:8080/users/42',
    'headers' => ['User-Agent' => ['wrk'], 'Accept' => ['*/*']],
    'cookies' => (object) [], 'rawQuery' => '', 'parsed' => false, 'attributes' => (object) [],
]);

$stages = ['decode' => 0.0, 'bridge' => 0.0, 'app' => 0.0, 'respond' => 0.0];
for ($i = 0; $i < $n; $i++) {
    $t0 = hrtime(true);
    $request = Request::fromJson($context, '');
    $t1 = hrtime(true);
    $symfony = $bridge->toSymfony($request);
    $t2 = hrtime(true);
    $response = $app->handle($symfony);
    $t3 = hrtime(true);
    $bridge->respond($response);
    $t4 = hrtime(true);
    if ($i % 1000 === 0) {
        ftruncate($out, 0);
        rewind($out);
    }
    $stages['decode'] += $t1 - $t0;
    $stages['bridge'] += $t2 - $t1;
    $stages['app'] += $t3 - $t2;
    $stages['respond'] += $t4 - $t3;
}
$total = array_sum($stages);
foreach ($stages as $name => $ns) {
    printf("%-8s %7.1f us/request %5.1f%%\n", $name, $ns / $n / 1000, 100 * $ns / $total);
}
printf("total    %7.1f us/request (%d requests, opcache %s): at most %.0f req/s per worker\n",
    $total / $n / 1000, $n, ini_get('opcache.enable_cli') ? 'on' : 'off', 1e9 * $n / $total);
