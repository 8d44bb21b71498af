<?php

declare(strict_types=1);

// HTTP test worker for the end-to-end tests: one route per behaviour.

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\Http\HttpWorker;
use Coyote\Worker\Worker;

$http = new HttpWorker(Worker::create());

function files(array $tree): array
{
    $out = [];
    foreach ($tree as $key => $node) {
        if (is_array($node) && array_key_exists('tmpName', $node)) {
            $node['exists'] = $node['tmpName'] !== '' && file_exists($node['tmpName']);
            $node['content'] = $node['exists'] ? file_get_contents($node['tmpName']) : null;
            $out[$key] = $node;
        } elseif (is_array($node)) {
            $out[$key] = files($node);
        }
    }
    return $out;
}

while ($req = $http->waitRequest()) {
    $path = parse_url($req->uri, PHP_URL_PATH) ?: '/';
    switch (true) {
        case $path === '/echo':
            $http->respond(200, json_encode([
                'method' => $req->method,
                'uri' => $req->uri,
                'protocol' => $req->protocol,
                'headers' => $req->headers,
                'cookies' => $req->cookies,
                'query' => $req->query(),
                'parsed' => $req->parsed,
                'parsedBody' => $req->parsedBody(),
                'body' => $req->parsed ? null : $req->body,
                'remoteAddr' => $req->remoteAddr,
                'uploads' => files($req->uploads ?? []),
                'pid' => getmypid(),
            ]), ['Content-Type' => 'application/json', 'X-Multi' => ['a', 'b']]);
            break;
        case $path === '/error':
            $http->error('secret failure text');
            break;
        case $path === '/crash':
            exit(1);
        case $path === '/stream':
            $http->respond(200, "part-0\n", ['Content-Type' => 'text/plain'], false);
            $http->respondChunk("part-1\n");
            $http->respondChunk("part-2\n");
            $http->respondChunk('', true);
            break;
        case $path === '/slow':
            // `marker=PATH`: created on arrival, so a test knows the
            // request is in flight on this worker.
            if (isset($req->query()['marker'])) {
                touch($req->query()['marker']);
            }
            usleep((int) ($req->query()['ms'] ?? 100) * 1000);
            $http->respond(200, 'slept');
            break;
        case str_starts_with($path, '/status/'):
            $http->respond((int) substr($path, 8), 'status');
            break;
        case $path === '/early-hints':
            $http->respond(103, '', ['Link' => '</style.css>; rel=preload'], false);
            $http->respond(200, 'final', ['X-Final' => 'yes']);
            break;
        case $path === '/trailers':
            $http->respond(200, 'body then trailers', ['Trailer' => 'X-Checksum', 'X-Checksum' => 'abc123', 'X-Head' => 'here']);
            break;
        case $path === '/pid':
            $http->respond(200, (string) getmypid());
            break;
        default:
            $http->respond(404, 'not found');
    }
}
