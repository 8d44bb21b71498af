<?php

declare(strict_types=1);

namespace Coyote\Handoff;

use Psr\Http\Message\ServerRequestFactoryInterface;
use Psr\Http\Message\ServerRequestInterface;
use Coyote\Http\Uploads;
use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\ServerRequest as NyholmServerRequest;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Message\UploadedFileFactoryInterface;
use Psr\Http\Message\UploadedFileInterface;
use Psr\Http\Message\UriFactoryInterface;
use Psr\Http\Message\UriInterface;

/**
 * Turns a {@see ParsedRequest} into a PSR-7 ServerRequest: method, URI
 * (http://Host + target; the local address when there is no Host), protocol
 * version, headers, body, server params (REMOTE_ADDR/REMOTE_PORT from the
 * connection, SERVER_ADDR/SERVER_PORT, REQUEST_URI, QUERY_STRING,
 * HTTP_*), query and cookie params, and the parsed body of
 * application/x-www-form-urlencoded requests.
 *
 * multipart/form-data ({@see MultipartParser}) is read as PHP's SAPI
 * reads it: the fields are the parsed body, the files are
 * UploadedFileInterface objects (getUploadedFiles()) over temp files,
 * both nested by PHP's bracket names; an empty file input is
 * UPLOAD_ERR_NO_FILE; getBody() is empty, like php://input. At most
 * max_file_uploads files and max_multipart_parts parts (413 beyond); a
 * malformed body or a missing boundary is 400, with no temp file left.
 * The temp files are returned in $tempFiles: {@see HttpServer} removes
 * them once the answer is written (or the connection is gone), unless the
 * application moved them.
 */
final class ServerRequestBuilder
{
    private const URI_CACHE = 256;

    /** The factories are nyholm's: requests are built with its constructor. */
    private bool $nyholm;
    /** @var array<string, UriInterface> */
    private array $uriCache = [];

    public function __construct(
        private ServerRequestFactoryInterface $requests,
        private StreamFactoryInterface $streams,
        private UriFactoryInterface $uris,
        private UploadedFileFactoryInterface $uploads,
        private MultipartParser $multipart = new MultipartParser(),
    ) {
        $this->nyholm = $requests instanceof Psr17Factory && $streams instanceof Psr17Factory;
    }

    /**
     * The request's URI. URIs are immutable, so the ones parsed lately are
     * kept (URI_CACHE of them, by Host and target) and shared: a keep-alive
     * client asking for the same paths parses each once.
     *
     * @throws HttpError 400
     */
    private function uri(string $host, string $target, string $method): UriInterface
    {
        $key = $host . ' ' . $target;
        $uri = $this->uriCache[$key] ?? null;
        if ($uri !== null) {
            return $uri;
        }
        try {
            if ($target[0] === '/') {
                $uri = $this->uris->createUri('http://' . $host . $target);
            } elseif (preg_match('#^https?://#i', $target)) {
                $uri = $this->uris->createUri($target);
            } elseif ($target === '*' && $method === 'OPTIONS') {
                $uri = $this->uris->createUri('http://' . $host);
            } else {
                throw new HttpError(400, 'unsupported request target');
            }
        } catch (\InvalidArgumentException $e) {
            throw new HttpError(400, 'malformed URI: ' . $e->getMessage());
        }
        if (\count($this->uriCache) >= self::URI_CACHE) {
            $this->uriCache = [];
        }
        return $this->uriCache[$key] = $uri;
    }

    /**
     * @param list<string> $tempFiles set to the upload temp files written for this request
     * @throws HttpError 400 when the target, a header or a multipart body is not acceptable,
     *         413 beyond the multipart limits
     */
    public function build(ParsedRequest $request, ConnectionMeta $meta, array &$tempFiles = []): ServerRequestInterface
    {
        $tempFiles = [];
        $host = $request->headerLine('Host');
        if ($host === '') {
            $host = $meta->local !== '' ? $meta->local : 'localhost';
        }
        $target = $request->target;
        $uri = $this->uri($host, $target, $request->method);
        $query = $uri->getQuery();
        $now = microtime(true);
        $server = [
            'REQUEST_TIME' => (int) $now,
            'REQUEST_TIME_FLOAT' => $now,
            'REQUEST_METHOD' => $request->method,
            'REQUEST_URI' => $target,
            'QUERY_STRING' => $query,
            'SERVER_PROTOCOL' => 'HTTP/' . $request->version,
            'REMOTE_ADDR' => $meta->peerHost(),
            'REMOTE_PORT' => $meta->peerPort(),
            'SERVER_ADDR' => $meta->localHost(),
            'SERVER_PORT' => $meta->localPort(),
            'HTTPS' => 'off',
        ];
        /** @var array<string, list<string>> $grouped */
        $grouped = [];
        $names = [];
        foreach ($request->headers as [$name, $value]) {
            $key = strtolower($name);
            $names[$key] ??= $name;
            $grouped[$key][] = $value;
            $var = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
            $server[$var] = isset($server[$var]) ? $server[$var] . ', ' . $value : $value;
        }
        if (isset($grouped['content-type'])) {
            $server['CONTENT_TYPE'] = $grouped['content-type'][0];
        }
        if (isset($grouped['content-length'])) {
            $server['CONTENT_LENGTH'] = $grouped['content-length'][0];
        }
        $contentType = $grouped['content-type'][0] ?? '';
        $type = $contentType === '' ? '' : strtolower(trim(explode(';', $contentType, 2)[0]));
        $multipart = $type === 'multipart/form-data';
        try {
            if ($this->nyholm) {
                // nyholm's constructor takes the headers, body and version at
                // once (an empty body becomes its stream only when asked
                // for): one object instead of a clone per with*() call.
                $headers = [];
                foreach ($grouped as $key => $values) {
                    $headers[$names[$key]] = $values;
                }
                $psr = new NyholmServerRequest($request->method, $uri, $headers,
                    $multipart ? '' : $request->body, $request->version, $server);
            } else {
                $psr = $this->requests->createServerRequest($request->method, $uri, $server)
                    ->withProtocolVersion($request->version);
                foreach ($grouped as $key => $values) {
                    $psr = $psr->withHeader($names[$key], $values);
                }
            }
        } catch (\InvalidArgumentException $e) {
            throw new HttpError(400, 'malformed request: ' . $e->getMessage());
        }
        if ($query !== '') {
            $params = [];
            parse_str($query, $params);
            $psr = $psr->withQueryParams($params);
        }
        if (isset($grouped['cookie'])) {
            $psr = $psr->withCookieParams(self::cookies($grouped['cookie']));
        }
        if ($multipart) {
            $body = $this->multipart->parse($request->body, MultipartParser::boundary($contentType));
            $tempFiles = $body->tempFiles;
            try {
                if (!$this->nyholm) {
                    $psr = $psr->withBody($this->streams->createStream(''));
                }
                return $psr->withParsedBody($body->fields)
                    ->withUploadedFiles(Uploads::map($body->files, fn (array $leaf) => $this->file($leaf)));
            } catch (\Throwable $e) {
                MultipartParser::remove($tempFiles);
                $tempFiles = [];
                throw $e;
            }
        }
        if (!$this->nyholm) {
            $psr = $psr->withBody($this->streams->createStream($request->body));
        }
        if ($type === 'application/x-www-form-urlencoded') {
            $form = [];
            parse_str($request->body, $form);
            $psr = $psr->withParsedBody($form);
        }
        return $psr;
    }

    /**
     * One uploads leaf as PSR-7, as {@see \Coyote\Http\PSR7Worker} makes it; a
     * temp file that cannot be opened (no descriptor left) is UPLOAD_ERR_CANT_WRITE.
     *
     * @param array<string, mixed> $leaf
     */
    private function file(array $leaf): UploadedFileInterface
    {
        $error = (int) $leaf['error'];
        $stream = null;
        if ($error === \UPLOAD_ERR_OK) {
            try {
                $stream = $this->streams->createStreamFromFile((string) $leaf['tmpName']);
            } catch (\RuntimeException) {
                $error = \UPLOAD_ERR_CANT_WRITE;
            }
        }
        return $this->uploads->createUploadedFile(
            $stream ?? $this->streams->createStream(''),
            (int) $leaf['size'],
            $error,
            (string) $leaf['name'],
            (string) $leaf['mime'],
        );
    }

    /**
     * @param list<string> $headers Cookie header values
     * @return array<string, string>
     */
    private static function cookies(array $headers): array
    {
        $cookies = [];
        foreach ($headers as $header) {
            foreach (explode(';', $header) as $pair) {
                $parts = explode('=', trim($pair), 2);
                if (\count($parts) === 2 && $parts[0] !== '') {
                    $cookies[$parts[0]] ??= urldecode(trim($parts[1], '"'));
                }
            }
        }
        return $cookies;
    }
}
