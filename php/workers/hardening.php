<?php

declare(strict_types=1);

// Worker for the hardening end-to-end tests: answers that try to take over
// the response framing, oversized heads, and an echo of what the server
// told PHP about the request (uri, remoteAddr).

require __DIR__ . '/../autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());

while ($req = $http->waitRequest()) {
    $path = parse_url($req->uri, PHP_URL_PATH) ?: '/';
    $query = $req->query();
    switch ($path) {
        case '/echo':
            $http->respond(200, json_encode([
                'uri' => $req->uri,
                'remoteAddr' => $req->remoteAddr,
                'headers' => $req->headers,
                'body' => $req->body,
            ]), ['Content-Type' => 'application/json']);
            break;
        case '/length':
            // A Content-Length that is not the body's.
            $http->respond(200, 'hello world', ['Content-Length' => $query['value'] ?? '2']);
            break;
        case '/length-and-chunked':
            $http->respond(200, 'hello world', ['Content-Length' => '11', 'Transfer-Encoding' => 'chunked']);
            break;
        case '/hop-by-hop':
            $http->respond(200, 'hop', [
                'Connection' => 'keep-alive, Upgrade',
                'Keep-Alive' => 'timeout=1, max=1',
                'Upgrade' => 'h2c',
                'TE' => 'trailers',
                'Transfer-Encoding' => 'gzip',
                'X-Kept' => 'yes',
            ]);
            break;
        case '/close':
            $http->respond(200, 'bye', ['Connection' => 'close']);
            break;
        case '/head':
            // What a PHP app answers to HEAD: the GET's length, no body.
            $http->respond(200, '', ['Content-Length' => '1234', 'Content-Type' => 'text/plain']);
            break;
        case '/many':
            $headers = [];
            for ($i = 0, $n = (int) ($query['n'] ?? 10); $i < $n; $i++) {
                $headers["X-H-$i"] = 'v';
            }
            $http->respond(200, 'many', $headers);
            break;
        case '/big':
            $http->respond(200, 'big', ['X-Big' => str_repeat('x', (int) ($query['bytes'] ?? 1024))]);
            break;
        case '/trailers':
            $http->respond(200, 'body then trailers', ['Trailer' => 'X-Checksum, Content-Length', 'X-Checksum' => 'abc123']);
            break;
        case '/pid':
            $http->respond(200, (string) getmypid());
            break;
        default:
            $http->respond(404, 'not found');
    }
}
