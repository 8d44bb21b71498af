<?php

declare(strict_types=1);

/*
 * The HTTP app the Handoff tests drive (an HttpServer in either mode):
 *   /          "Hello, World!"
 *   /echo      JSON of what the PSR-7 request holds
 *   /boom      the handler throws (500 expected)
 *   /stream?n= a body of unknown size (n parts): sent chunked
 *   /close     answers with Connection: close
 *   /upload    JSON of a multipart request: the parsed body, the raw body,
 *              each uploaded file (by its bracket path) with its SHA-256 and
 *              temp file; ?rename=PATH moves the first file's temp file there,
 *              ?exit=1 exits (code 3) instead of answering, ?echo=1 answers
 *              with the first file's stream
 * Options from HANDOFF_HEADER_TIMEOUT, HANDOFF_IDLE_TIMEOUT,
 * HANDOFF_MAX_HEADER_SIZE, HANDOFF_MAX_BODY_SIZE, HANDOFF_MAX_FILE_UPLOADS.
 */

require __DIR__ . '/../../autoload.php';
require_once 'Nyholm/Psr7/autoload.php';

use Coyote\Handoff\HttpServer;
use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamInterface;
use Psr\Http\Message\UploadedFileInterface;

$options = [];
foreach (['header_timeout', 'idle_timeout', 'max_header_size', 'max_body_size', 'max_file_uploads'] as $option) {
    $value = getenv('HANDOFF_' . strtoupper($option));
    if ($value !== false && $value !== '') {
        $options[$option] = str_contains($option, 'timeout') ? (float) $value : (int) $value;
    }
}

/** A body whose size is not known in advance. */
final class Parts implements StreamInterface
{
    private int $i = 0;

    public function __construct(private int $n)
    {
    }

    public function __toString(): string
    {
        return $this->getContents();
    }

    public function close(): void
    {
    }

    public function detach()
    {
        return null;
    }

    public function getSize(): ?int
    {
        return null;
    }

    public function tell(): int
    {
        return $this->i;
    }

    public function eof(): bool
    {
        return $this->i >= $this->n;
    }

    public function isSeekable(): bool
    {
        return false;
    }

    public function seek($offset, $whence = \SEEK_SET): void
    {
        throw new \RuntimeException('not seekable');
    }

    public function rewind(): void
    {
        throw new \RuntimeException('not seekable');
    }

    public function isWritable(): bool
    {
        return false;
    }

    public function write($string): int
    {
        throw new \RuntimeException('not writable');
    }

    public function isReadable(): bool
    {
        return true;
    }

    public function read($length): string
    {
        return $this->eof() ? '' : 'part' . $this->i++ . ';';
    }

    public function getContents(): string
    {
        $out = '';
        while (!$this->eof()) {
            $out .= $this->read(8192);
        }
        return $out;
    }

    public function getMetadata($key = null)
    {
        return $key === null ? [] : null;
    }
}

/**
 * The uploaded files by bracket path (`docs[0]`), each described.
 *
 * @param array<mixed> $tree
 * @return array<string, array<string, mixed>>
 */
function describeUploads(array $tree, string $prefix = ''): array
{
    $out = [];
    foreach ($tree as $key => $node) {
        $path = $prefix === '' ? (string) $key : $prefix . '[' . $key . ']';
        if (!$node instanceof UploadedFileInterface) {
            $out += describeUploads($node, $path);
            continue;
        }
        $ok = $node->getError() === \UPLOAD_ERR_OK;
        $tmp = $ok ? (string) $node->getStream()->getMetadata('uri') : '';
        $out[$path] = [
            'class' => $node::class,
            'name' => $node->getClientFilename(),
            'type' => $node->getClientMediaType(),
            'size' => $node->getSize(),
            'error' => $node->getError(),
            'sha256' => $ok ? hash('sha256', (string) $node->getStream()) : null,
            'tmp' => $tmp,
            'tmp_exists' => $tmp !== '' && is_file($tmp),
        ];
    }
    return $out;
}

$factory = new Psr17Factory();
$server = HttpServer::create(static function (ServerRequestInterface $request) use ($factory): ResponseInterface {
    switch ($request->getUri()->getPath()) {
        case '/echo':
            $server = $request->getServerParams();
            return $factory->createResponse(200)
                ->withHeader('Content-Type', 'application/json')
                ->withBody($factory->createStream((string) json_encode([
                    'method' => $request->getMethod(),
                    'uri' => (string) $request->getUri(),
                    'version' => $request->getProtocolVersion(),
                    'headers' => $request->getHeaders(),
                    'body' => (string) $request->getBody(),
                    'query' => $request->getQueryParams(),
                    'parsed' => $request->getParsedBody(),
                    'cookies' => $request->getCookieParams(),
                    'remote_addr' => $server['REMOTE_ADDR'] ?? null,
                    'remote_port' => $server['REMOTE_PORT'] ?? null,
                    'pid' => getmypid(),
                ])));
        case '/upload':
            $files = describeUploads($request->getUploadedFiles());
            $target = $request->getQueryParams()['rename'] ?? '';
            if ($target !== '' && $files !== []) {
                rename((string) reset($files)['tmp'], $target);   // as a framework moving the temp file itself
            }
            if (isset($request->getQueryParams()['echo'])) {
                $first = $request->getUploadedFiles();
                while (\is_array($first)) {
                    $first = reset($first);
                }
                return $factory->createResponse(200)->withBody($first->getStream());   // streamed from the temp file
            }
            if (isset($request->getQueryParams()['exit'])) {
                exit(3);    // the temp files must not outlive the worker
            }
            return $factory->createResponse(200)
                ->withHeader('Content-Type', 'application/json')
                ->withBody($factory->createStream((string) json_encode([
                    'parsed' => $request->getParsedBody(),
                    'body' => (string) $request->getBody(),
                    'files' => $files,
                ])));
        case '/boom':
            throw new \RuntimeException('boom');
        case '/stream':
            return $factory->createResponse(200)->withBody(new Parts((int) ($request->getQueryParams()['n'] ?? 3)));
        case '/close':
            return $factory->createResponse(200)->withHeader('Connection', 'close')
                ->withBody($factory->createStream('bye'));
        default:
            return $factory->createResponse(200)->withBody($factory->createStream('Hello, World!'));
    }
}, $options);
$server->run();
fwrite(STDERR, "handoff-app: stopped\n");
