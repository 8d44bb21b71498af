<?php

declare(strict_types=1);

namespace Coyote\Http;

use Symfony\Component\HttpFoundation\Request as SymfonyRequest;
use Symfony\Component\HttpFoundation\Response as SymfonyResponse;
use Symfony\Component\HttpFoundation\File\UploadedFile;

/**
 * Symfony HttpFoundation requests in, HttpFoundation responses out: the
 * bridge for Symfony, Laravel and Lumen applications (Debian's
 * php-symfony-http-foundation; Laravel's `Illuminate\Http\Request` and
 * `UploadedFile` extend Symfony's and can be chosen in the constructor).
 *
 * The request is built as PHP's SAPI would describe it: `server` holds
 * REQUEST_URI, QUERY_STRING, REMOTE_ADDR, HTTP_HOST, SERVER_NAME/PORT,
 * HTTPS, CONTENT_TYPE/LENGTH and one HTTP_* per header, on top of the
 * worker's environment (without its HTTP_* variables: an environment
 * HTTP_PROXY must not pass for a request header). Uploaded files are
 * `UploadedFile` objects in test mode: Coyote wrote the temp files, so
 * PHP's is_uploaded_file() does not know them, and `isValid()`/`move()`
 * must not ask it. The globals ($_GET, $_SERVER, ...) are not touched.
 */
final class HttpFoundationWorker
{
    /** Bodies larger than this (and streamed output) go as parts of this size. */
    private const CHUNK = 1 << 20;

    /** Worker variables that describe the CLI script, not a request. */
    private const SCRIPT_VARIABLES = ['argv', 'argc', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PHP_SELF', 'PATH_TRANSLATED'];

    /** @var array<string, mixed> */
    private array $environment;

    /**
     * @param class-string<UploadedFile> $uploadedFileClass e.g. `Illuminate\Http\UploadedFile`
     *        for Laravel/Lumen (Laravel converts Symfony's own and loses the test mode)
     * @param class-string<SymfonyRequest> $requestClass e.g. `Illuminate\Http\Request`
     */
    public function __construct(
        private HttpWorker $http,
        private string $uploadedFileClass = UploadedFile::class,
        private string $requestClass = SymfonyRequest::class,
    ) {
        foreach ([$uploadedFileClass => UploadedFile::class, $requestClass => SymfonyRequest::class] as $class => $base) {
            if (!class_exists($class)) {
                throw new \InvalidArgumentException("class $class not found (is its autoloader loaded?)");
            }
            if (!is_a($class, $base, true)) {
                throw new \InvalidArgumentException("$class does not extend $base");
            }
        }
        $environment = $_SERVER;
        foreach (array_keys($environment) as $name) {
            if (\in_array($name, self::SCRIPT_VARIABLES, true) || str_starts_with((string) $name, 'HTTP_')) {
                unset($environment[$name]);
            }
        }
        $this->environment = $environment;
    }

    public function http(): HttpWorker
    {
        return $this->http;
    }

    /** The next request, or null when the server stops this worker. */
    public function waitRequest(): ?SymfonyRequest
    {
        $request = $this->http->waitRequest();
        return $request === null ? null : $this->toSymfony($request);
    }

    /** Builds the HttpFoundation request for one request of the server. */
    public function toSymfony(Request $request): SymfonyRequest
    {
        $class = $this->requestClass;
        $parsed = $request->parsed ? ($request->parsedBody() ?? []) : [];
        return new $class(
            $request->query(),
            $parsed,
            $request->attributes,
            $request->cookies,
            $this->files($request->uploads ?? []),
            $this->server($request),
            $request->parsed ? '' : $request->body,
        );
    }

    /**
     * Sends `$response` as it is (frameworks call `prepare()` themselves:
     * Symfony's kernel, Laravel's router, Lumen's application): status,
     * headers, every cookie as its own Set-Cookie, the body. Streamed and
     * file responses (`StreamedResponse`, `BinaryFileResponse`) go out as
     * they produce output; if one throws after its first part left, the
     * stream is ended with an error frame (the client sees the response
     * cut off, the message reaches the server log) and nothing is thrown.
     */
    public function respond(SymfonyResponse $response): void
    {
        $status = $response->getStatusCode();
        $headers = $response->headers->allPreserveCaseWithoutCookies();
        $cookies = $response->headers->getCookies();
        if ($cookies !== []) {
            $headers['Set-Cookie'] = array_map('strval', $cookies);
        }
        $content = $response->getContent(); // false for streamed and file responses
        if (\is_string($content)) {
            $this->respondString($status, $headers, $content);
            return;
        }
        $this->respondStream($response, $status, $headers);
    }

    /** Reports a failed request (HTTP 500; details only in debug mode). */
    public function error(string $message): void
    {
        $this->http->error($message);
    }

    /** @param array<string, list<string>> $headers */
    private function respondString(int $status, array $headers, string $content): void
    {
        $length = \strlen($content);
        if ($length <= self::CHUNK) {
            $this->http->respond($status, $content, $headers);
            return;
        }
        if (!$this->http->respond($status, substr($content, 0, self::CHUNK), $headers, false)) {
            return;
        }
        for ($offset = self::CHUNK; $offset < $length; $offset += self::CHUNK) {
            if (!$this->http->respondChunk(substr($content, $offset, self::CHUNK))) {
                return;
            }
        }
        $this->http->respondChunk('', true);
    }

    /** @param array<string, list<string>> $headers */
    private function respondStream(SymfonyResponse $response, int $status, array $headers): void
    {
        $started = false; // the head went out with a first part
        $open = true;     // the client is still there
        $level = ob_get_level();
        ob_start(function (string $chunk) use (&$started, &$open, $status, $headers): string {
            if ($chunk !== '' && $open) {
                $open = $started
                    ? $this->http->respondChunk($chunk)
                    : $this->http->respond($status, $chunk, $headers, false);
                $started = true;
            }
            return '';
        }, self::CHUNK);
        try {
            $response->sendContent();
        } catch (\Throwable $e) {
            while (ob_get_level() > $level) {
                ob_end_clean();
            }
            if (!$started) {
                throw $e;
            }
            if ($open) {
                $this->http->error((string) $e);
            }
            return;
        }
        while (ob_get_level() > $level) {
            ob_end_flush();
        }
        if (!$started) {
            $this->http->respond($status, '', $headers);
        } elseif ($open) {
            $this->http->respondChunk('', true);
        }
    }

    /** @return array<string, mixed> */
    private function server(Request $request): array
    {
        $server = $this->environment;
        $now = microtime(true);
        $server['REQUEST_TIME'] = (int) $now;
        $server['REQUEST_TIME_FLOAT'] = $now;
        $server['REMOTE_ADDR'] = $request->remoteAddr;
        $server['SERVER_PROTOCOL'] = $request->protocol;
        $server['REQUEST_METHOD'] = $request->method;
        $server['QUERY_STRING'] = $request->rawQuery;

        // The context's uri is absolute (scheme://host[:port]/path?query);
        // REQUEST_URI is its path and query, as a SAPI reports it.
        $uri = $request->uri;
        $scheme = 'http';
        $authority = '';
        $schemeEnd = strpos($uri, '://');
        if ($schemeEnd !== false) {
            $scheme = strtolower(substr($uri, 0, $schemeEnd));
            $pathStart = strpos($uri, '/', $schemeEnd + 3);
            $authority = $pathStart === false
                ? substr($uri, $schemeEnd + 3)
                : substr($uri, $schemeEnd + 3, $pathStart - $schemeEnd - 3);
            $uri = $pathStart === false ? '/' : substr($uri, $pathStart);
        }
        $server['REQUEST_URI'] = $uri;
        $https = $scheme === 'https';
        if ($https) {
            $server['HTTPS'] = 'on';
        }
        foreach ($request->headers as $name => $values) {
            $key = strtoupper(str_replace('-', '_', (string) $name));
            $value = implode(', ', $values);
            if ($key === 'CONTENT_TYPE' || $key === 'CONTENT_LENGTH') {
                $server[$key] = $value;
            } else {
                $server['HTTP_' . $key] = $value;
            }
        }
        // RoadRunner carries the Host in the uri, not among the headers.
        $host = $server['HTTP_HOST'] ?? $authority;
        if ($host !== '') {
            $server['HTTP_HOST'] = $host;
            $portStart = strrpos($host, ':');
            $ipv6End = strrpos($host, ']');
            if ($portStart !== false && ($ipv6End === false || $portStart > $ipv6End)) {
                $server['SERVER_NAME'] = substr($host, 0, $portStart);
                $server['SERVER_PORT'] = substr($host, $portStart + 1);
            } else {
                $server['SERVER_NAME'] = $host;
                $server['SERVER_PORT'] = $https ? '443' : '80';
            }
        }
        return $server;
    }

    /**
     * The uploads tree with every leaf as an UploadedFile; a file input
     * left empty (UPLOAD_ERR_NO_FILE) stays a $_FILES-shaped array, which
     * HttpFoundation's FileBag turns into null as PHP would.
     *
     * @param array<mixed> $tree
     * @return array<mixed>
     */
    private function files(array $tree): array
    {
        return Uploads::map($tree, fn (array $leaf) => $this->file($leaf));
    }

    /**
     * @param array<string, mixed> $leaf
     * @return UploadedFile|array<string, mixed>
     */
    private function file(array $leaf): UploadedFile|array
    {
        $error = (int) $leaf['error'];
        $name = (string) ($leaf['name'] ?? '');
        $mime = (string) ($leaf['mime'] ?? '');
        if ($error === \UPLOAD_ERR_NO_FILE) {
            return ['name' => $name, 'type' => $mime, 'tmp_name' => '', 'error' => $error, 'size' => 0];
        }
        $class = $this->uploadedFileClass;
        $path = $error === \UPLOAD_ERR_OK ? (string) $leaf['tmpName'] : '';
        return new $class($path, $name, $mime === '' ? null : $mime, $error, true);
    }
}
