<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Handoff\ConnectionMeta;
use Coyote\Handoff\HttpError;
use Coyote\Handoff\Mode;
use Coyote\Handoff\ParsedRequest;
use Coyote\Handoff\ServerRequestBuilder;
use Nyholm\Psr7\Factory\Psr17Factory;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\ServerRequestFactoryInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Message\StreamInterface;
use Psr\Http\Message\UploadedFileFactoryInterface;
use Psr\Http\Message\UploadedFileInterface;
use Psr\Http\Message\UriFactoryInterface;
use Psr\Http\Message\UriInterface;

require_once 'Nyholm/Psr7/autoload.php';

/**
 * The request builder's two paths (nyholm's constructor, any PSR-17
 * factories) give the same request, and its URI cache never mixes up
 * hosts or targets.
 */
final class HandoffBuilderTest extends TestCase
{
    public function testTheNyholmPathAndTheGenericPathBuildTheSameRequest(): void
    {
        $requests = [
            new ParsedRequest('GET', '/a/b?x=1&y[]=2&y[]=3', '1.1', [
                ['Host', 'example.test:8080'],
                ['Accept', 'text/html'],
                ['X-Many', 'one'],
                ['x-many', 'two'],
                ['Cookie', 'a=1; b="two%20words"'],
            ], '', true),
            new ParsedRequest('POST', '/form', '1.0', [
                ['Host', 'h'],
                ['Content-Type', 'application/x-www-form-urlencoded'],
                ['Content-Length', '7'],
            ], 'a=1&b=2', false),
            new ParsedRequest('PUT', '/raw', '1.1', [['Host', 'h'], ['Content-Length', '5']], "\x00bin\r", true),
            new ParsedRequest('GET', '/no-host', '1.0', [], '', false),
        ];
        $meta = new ConnectionMeta(7, '[::1]:5000', '127.0.0.1:8080', 'web', Mode::Reuseport);
        $nyholm = new Psr17Factory();
        $generic = self::generic();
        $fast = new ServerRequestBuilder($nyholm, $nyholm, $nyholm, $nyholm);
        $slow = new ServerRequestBuilder($generic, $generic, $generic, $generic);
        foreach ($requests as $request) {
            $a = self::describe($fast->build($request, $meta));
            $b = self::describe($slow->build($request, $meta));
            self::assertSame($b, $a, "{$request->method} {$request->target}");
        }
        $get = self::describe($fast->build($requests[0], $meta));
        self::assertSame('http://example.test:8080/a/b?x=1&y%5B%5D=2&y%5B%5D=3', $get['uri']);
        self::assertSame(['x' => '1', 'y' => ['2', '3']], $get['query']);
        self::assertSame(['a' => '1', 'b' => 'two words'], $get['cookies']);
        self::assertSame(['one', 'two'], $get['headers']['X-Many']);
        self::assertSame('::1', $get['server']['REMOTE_ADDR']);
        $post = self::describe($fast->build($requests[1], $meta));
        self::assertSame(['a' => '1', 'b' => '2'], $post['parsed']);
        self::assertSame('a=1&b=2', $post['body']);
        self::assertSame('1.0', $post['version']);
        self::assertSame("\x00bin\r", self::describe($fast->build($requests[2], $meta))['body']);
        self::assertSame('http://127.0.0.1:8080/no-host', self::describe($fast->build($requests[3], $meta))['uri']);
    }

    public function testTheUriCacheKeepsHostsAndTargetsApart(): void
    {
        $factory = new Psr17Factory();
        $builder = new ServerRequestBuilder($factory, $factory, $factory, $factory);
        $meta = new ConnectionMeta(1, '127.0.0.1:5000', '127.0.0.1:80', 'web', Mode::FdPassing);
        $uri = static fn (string $host, string $target): string => (string) $builder->build(
            new ParsedRequest('GET', $target, '1.1', [['Host', $host]], '', true),
            $meta,
        )->getUri();
        // More distinct targets than the cache holds, twice over, each with two hosts.
        for ($round = 0; $round < 2; $round++) {
            for ($i = 0; $i < 600; $i++) {
                self::assertSame("http://a.test/p/$i?q=$i", $uri('a.test', "/p/$i?q=$i"));
                self::assertSame("http://b.test/p/$i?q=$i", $uri('b.test', "/p/$i?q=$i"));
            }
        }
        // A request may change its URI: the cached one is not touched.
        $first = $builder->build(new ParsedRequest('GET', '/same', '1.1', [['Host', 'c.test']], '', true), $meta);
        $first->getUri()->withPath('/changed');
        $changed = $first->withUri($first->getUri()->withPath('/changed'));
        self::assertSame('http://c.test/changed', (string) $changed->getUri());
        self::assertSame('http://c.test/same', $uri('c.test', '/same'));
    }

    public function testABadTargetIsStill400WhenCached(): void
    {
        $factory = new Psr17Factory();
        $builder = new ServerRequestBuilder($factory, $factory, $factory, $factory);
        $meta = new ConnectionMeta(1, '127.0.0.1:5000', '127.0.0.1:80', 'web', Mode::FdPassing);
        for ($i = 0; $i < 2; $i++) {
            try {
                $builder->build(new ParsedRequest('GET', 'nonsense', '1.1', [['Host', 'h']], '', true), $meta);
                self::fail('a target that is neither a path nor absolute is refused');
            } catch (HttpError $e) {
                self::assertSame(400, $e->status);
            }
        }
    }

    /** @return array<string, mixed> */
    private static function describe(ServerRequestInterface $r): array
    {
        $server = $r->getServerParams();
        unset($server['REQUEST_TIME'], $server['REQUEST_TIME_FLOAT']);
        $headers = $r->getHeaders();
        ksort($headers);
        return [
            'method' => $r->getMethod(),
            'uri' => (string) $r->getUri(),
            'version' => $r->getProtocolVersion(),
            'headers' => $headers,
            'body' => (string) $r->getBody(),
            'server' => $server,
            'query' => $r->getQueryParams(),
            'cookies' => $r->getCookieParams(),
            'parsed' => $r->getParsedBody(),
            'files' => $r->getUploadedFiles(),
        ];
    }

    /** PSR-17 factories that are not nyholm's class (they delegate to it). */
    private static function generic(): object
    {
        return new class () implements ServerRequestFactoryInterface, StreamFactoryInterface, UriFactoryInterface, UploadedFileFactoryInterface {
            private Psr17Factory $f;

            public function __construct()
            {
                $this->f = new Psr17Factory();
            }

            public function createServerRequest(string $method, $uri, array $serverParams = []): ServerRequestInterface
            {
                return $this->f->createServerRequest($method, $uri, $serverParams);
            }

            public function createStream(string $content = ''): StreamInterface
            {
                return $this->f->createStream($content);
            }

            public function createStreamFromFile(string $filename, string $mode = 'r'): StreamInterface
            {
                return $this->f->createStreamFromFile($filename, $mode);
            }

            public function createStreamFromResource($resource): StreamInterface
            {
                return $this->f->createStreamFromResource($resource);
            }

            public function createUri(string $uri = ''): UriInterface
            {
                return $this->f->createUri($uri);
            }

            public function createUploadedFile(
                StreamInterface $stream,
                ?int $size = null,
                int $error = \UPLOAD_ERR_OK,
                ?string $clientFilename = null,
                ?string $clientMediaType = null,
            ): UploadedFileInterface {
                return $this->f->createUploadedFile($stream, $size, $error, $clientFilename, $clientMediaType);
            }
        };
    }
}
