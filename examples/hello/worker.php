<?php

declare(strict_types=1);

/*
 * The example app: a page at "/" and a JSON echo at "/echo", on PSR-7
 * (Debian's nyholm/psr7) through Coyote's PHP SDK.
 */

require __DIR__ . '/../../php/autoload.php';
require_once 'Nyholm/Psr7/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Http\PSR7Worker;
use Coyote\Worker\Worker;
use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

$factory = new Psr17Factory();
$worker = new PSR7Worker(new HttpWorker(Worker::create()), $factory, $factory, $factory);

function handle(ServerRequestInterface $request, Psr17Factory $factory): ResponseInterface
{
    $path = $request->getUri()->getPath();
    if ($path === '/echo') {
        $payload = [
            'method' => $request->getMethod(),
            'uri' => (string) $request->getUri(),
            'query' => $request->getQueryParams(),
            'headers' => $request->getHeaders(),
            'cookies' => $request->getCookieParams(),
            'parsedBody' => $request->getParsedBody(),
            'body' => (string) $request->getBody(),
            'remoteAddr' => $request->getServerParams()['REMOTE_ADDR'] ?? null,
            'pid' => getmypid(),
        ];
        return $factory->createResponse(200)
            ->withHeader('Content-Type', 'application/json')
            ->withBody($factory->createStream(json_encode($payload, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES)));
    }
    if ($path === '/') {
        $html = '<!doctype html><html><head><meta charset="utf-8"><title>Coyote</title></head><body>'
            . '<h1>Hello from Coyote</h1>'
            . '<p>Served by PHP worker ' . getmypid() . ' on PHP ' . PHP_VERSION . '.</p>'
            . '<p>Try <a href="/echo?hello=world">/echo</a>.</p></body></html>';
        return $factory->createResponse(200)
            ->withHeader('Content-Type', 'text/html; charset=utf-8')
            ->withBody($factory->createStream($html));
    }
    return $factory->createResponse(404)
        ->withHeader('Content-Type', 'text/plain')
        ->withBody($factory->createStream("not found\n"));
}

while ($request = $worker->waitRequest()) {
    try {
        $worker->respond(handle($request, $factory));
    } catch (\Throwable $e) {
        $worker->error((string) $e);
    }
}
