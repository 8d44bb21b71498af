<?php

declare(strict_types=1);

/*
 * The hand-off benchmark's worker: the SDK's event-driven HTTP server
 * (Coyote\Handoff\HttpServer, either mode). `/` answers "Hello, World!"
 * as bench/http-hello's goridge worker does; `/pid` answers the worker's
 * pid, so that the balance run can tell which worker holds a connection.
 */

require __DIR__ . '/../../php/autoload.php';
require_once 'Nyholm/Psr7/autoload.php';

use Coyote\Handoff\HttpServer;
use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

$factory = new Psr17Factory();
$hello = $factory->createResponse(200)
    ->withHeader('Content-Type', 'text/plain')
    ->withBody($factory->createStream('Hello, World!'));
$pid = $factory->createResponse(200)
    ->withHeader('Content-Type', 'text/plain')
    ->withBody($factory->createStream((string) getmypid()));

HttpServer::create(
    static fn (ServerRequestInterface $request): ResponseInterface => $request->getUri()->getPath() === '/pid' ? $pid : $hello,
)->run();
