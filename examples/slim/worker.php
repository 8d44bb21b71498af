<?php

declare(strict_types=1);

/*
 * A real framework on Coyote: a Slim 3 application (Debian's php-slim)
 * served by Coyote's PSR-7 worker. The app is built once; each request
 * goes through Slim's router, middleware and error handling without
 * booting anything again.
 */

require __DIR__ . '/../../php/autoload.php';
require_once 'Nyholm/Psr7/autoload.php';
require_once 'Slim/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Http\PSR7Worker;
use Coyote\Worker\Worker;
use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface as Response;
use Psr\Http\Message\ServerRequestInterface as Request;

$factory = new Psr17Factory();
$worker = new PSR7Worker(new HttpWorker(Worker::create()), $factory, $factory, $factory);

$app = new Slim\App(['settings' => ['displayErrorDetails' => false]]);
$booted = getmypid();
$served = 0;

// Middleware: every response says which worker served it and how many
// requests that worker has served (the app stays in memory).
$app->add(function (Request $request, Response $response, callable $next) use (&$served, $booted): Response {
    $served++;
    $response = $next($request, $response);
    return $response->withHeader('X-Worker', $booted . '/' . $served);
});

$app->get('/', function (Request $request, Response $response): Response {
    $response->getBody()->write('<h1>Slim on Coyote</h1>');
    return $response->withHeader('Content-Type', 'text/html; charset=utf-8');
});

$app->get('/hello/{name}', function (Request $request, Response $response, array $args): Response {
    $response->getBody()->write(json_encode([
        'hello' => $args['name'],
        'query' => $request->getQueryParams(),
    ]));
    return $response->withHeader('Content-Type', 'application/json');
});

$app->post('/echo', function (Request $request, Response $response): Response {
    $body = $request->getParsedBody();
    if ($body === null && str_contains($request->getHeaderLine('Content-Type'), 'json')) {
        $body = json_decode((string) $request->getBody(), true);
    }
    $response->getBody()->write(json_encode([
        'method' => $request->getMethod(),
        'body' => $body,
        'cookies' => $request->getCookieParams(),
    ]));
    return $response->withStatus(201)->withHeader('Content-Type', 'application/json');
});

$app->get('/fail', function (): Response {
    throw new RuntimeException('the handler failed');
});

while ($request = $worker->waitRequest()) {
    try {
        $worker->respond($app->process($request, $factory->createResponse()));
    } catch (\Throwable $e) {
        $worker->error((string) $e);
    }
}
