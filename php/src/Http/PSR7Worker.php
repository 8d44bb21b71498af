<?php

declare(strict_types=1);

namespace Coyote\Http;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestFactoryInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Message\UploadedFileFactoryInterface;
use Psr\Http\Message\UploadedFileInterface;

/**
 * PSR-7 requests in, PSR-7 responses out, with any PSR-17 factories
 * (Debian's nyholm/psr7 in the examples).
 */
final class PSR7Worker
{
    /** Bodies larger than this are sent as a stream of parts. */
    private const CHUNK = 1 << 20;

    public function __construct(
        private HttpWorker $http,
        private ServerRequestFactoryInterface $requests,
        private StreamFactoryInterface $streams,
        private UploadedFileFactoryInterface $uploads,
    ) {
    }

    /** The next request, or null when the server stops this worker. */
    public function waitRequest(): ?ServerRequestInterface
    {
        $request = $this->http->waitRequest();
        if ($request === null) {
            return null;
        }
        $server = [
            'REQUEST_TIME' => time(),
            'REQUEST_TIME_FLOAT' => microtime(true),
            'REMOTE_ADDR' => $request->remoteAddr,
            'SERVER_PROTOCOL' => $request->protocol,
            'REQUEST_METHOD' => $request->method,
        ];
        $psr = $this->requests->createServerRequest($request->method, $request->uri, $server)
            ->withProtocolVersion(substr($request->protocol, 5) ?: '1.1')
            ->withCookieParams($request->cookies)
            ->withQueryParams($request->query())
            ->withUploadedFiles($this->files($request->uploads ?? []));
        foreach ($request->headers as $name => $values) {
            $psr = $psr->withHeader($name, $values);
        }
        foreach ($request->attributes as $name => $value) {
            $psr = $psr->withAttribute($name, $value);
        }
        if ($request->parsed) {
            return $psr->withParsedBody($request->parsedBody());
        }
        return $psr->withBody($this->streams->createStream($request->body));
    }

    public function respond(ResponseInterface $response): void
    {
        $body = $response->getBody();
        if ($body->isSeekable()) {
            $body->rewind();
        }
        $size = $body->getSize();
        if ($size !== null && $size <= self::CHUNK) {
            $this->http->respond($response->getStatusCode(), (string) $body, $response->getHeaders());
            return;
        }
        $first = $body->read(self::CHUNK);
        if (!$this->http->respond($response->getStatusCode(), $first, $response->getHeaders(), $body->eof())) {
            return;
        }
        while (!$body->eof()) {
            if (!$this->http->respondChunk($body->read(self::CHUNK))) {
                return;
            }
        }
        $this->http->respondChunk('', true);
    }

    public function error(string $message): void
    {
        $this->http->error($message);
    }

    /**
     * @param array<mixed> $tree
     * @return array<mixed>
     */
    private function files(array $tree): array
    {
        return Uploads::map($tree, fn (array $leaf) => $this->file($leaf));
    }

    /** @param array<string, mixed> $leaf */
    private function file(array $leaf): UploadedFileInterface
    {
        $error = (int) $leaf['error'];
        $stream = $error === \UPLOAD_ERR_OK
            ? $this->streams->createStreamFromFile((string) $leaf['tmpName'])
            : $this->streams->createStream('');
        return $this->uploads->createUploadedFile(
            $stream,
            (int) $leaf['size'],
            $error,
            (string) ($leaf['name'] ?? ''),
            (string) ($leaf['mime'] ?? ''),
        );
    }
}
