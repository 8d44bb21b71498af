<?php

declare(strict_types=1);

/*
 * Hand-off hello world (the `handoff` plugin, either mode: RR_MODE is
 * reuseport or fd_passing): an event-driven HTTP/1.1 server answering
 * every request with "Hello, World!" (text/plain), keep-alive and
 * pipelining included. Options from the environment, all optional:
 * HANDOFF_HEADER_TIMEOUT, HANDOFF_IDLE_TIMEOUT (seconds).
 */

require __DIR__ . '/../autoload.php';
require_once 'Nyholm/Psr7/autoload.php';

use Coyote\Handoff\HttpServer;
use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

$options = [];
foreach (['header_timeout' => 'HANDOFF_HEADER_TIMEOUT', 'idle_timeout' => 'HANDOFF_IDLE_TIMEOUT'] as $option => $variable) {
    $value = getenv($variable);
    if ($value !== false && $value !== '') {
        $options[$option] = (float) $value;
    }
}

$factory = new Psr17Factory();
$hello = $factory->createResponse(200)
    ->withHeader('Content-Type', 'text/plain')
    ->withBody($factory->createStream('Hello, World!'));

HttpServer::create(static fn (ServerRequestInterface $request): ResponseInterface => $hello, $options)->run();
