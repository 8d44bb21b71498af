<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/HandoffPeer.php';
require_once __DIR__ . '/Support/RawHttp.php';

use Coyote\Goridge\Frame;
use Coyote\Tests\Support\HandoffPeer;
use Coyote\Tests\Support\RawHttp;
use PHPUnit\Framework\TestCase;

/**
 * The event-driven HttpServer (tests/Support/handoff-app.php) in a real
 * worker process, with this test as Coyote: the control socket is the
 * worker's fd 3 (SOCK_SEQPACKET), connections are passed with SCM_RIGHTS
 * (fd_passing) or accepted on the worker's fd 4 (reuseport).
 */
final class HandoffHttpTest extends TestCase
{
    private const APP = __DIR__ . '/Support/handoff-app.php';

    /** @param array<string, string> $env */
    private static function worker(string $mode = 'fd_passing', array $env = []): HandoffPeer
    {
        $peer = new HandoffPeer(self::APP, $mode, $env);
        $peer->handshake();
        return $peer;
    }

    private static function get(string $path, string $extra = ''): string
    {
        return "GET $path HTTP/1.1\r\nHost: example.test\r\n$extra\r\n";
    }

    /** @return iterable<string, array{string}> */
    public static function modes(): iterable
    {
        yield 'fd_passing' => ['fd_passing'];
        yield 'reuseport' => ['reuseport'];
    }

    /** @dataProvider modes */
    public function testTheHandshakeAnswersWithTheWorkersPid(string $mode): void
    {
        $peer = new HandoffPeer(self::APP, $mode);
        $answer = $peer->handshake();
        self::assertSame(Frame::CONTROL, $answer->flags & Frame::CONTROL);
        $peer->stop();
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    /** @dataProvider modes */
    public function testKeepAliveServesTwoRequestsOnOneConnection(string $mode): void
    {
        $peer = self::worker($mode);
        [$client, $id] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/echo?a=1&b[]=2', "Cookie: s=abc%20d; t=2\r\nX-Multi: 1\r\nX-Multi: 2\r\n"));
        $first = $http->response();
        self::assertSame(200, $first['status']);
        $echo = json_decode($first['body'], true);
        self::assertSame('GET', $echo['method']);
        self::assertSame('http://example.test/echo?a=1&b%5B%5D=2', $echo['uri']); // nyholm's Uri encodes []
        self::assertSame('1.1', $echo['version']);
        self::assertSame(['1', '2'], $echo['headers']['X-Multi']);
        self::assertSame(['example.test'], $echo['headers']['Host']);
        self::assertSame(['a' => '1', 'b' => ['2']], $echo['query']);
        self::assertSame(['s' => 'abc d', 't' => '2'], $echo['cookies']);
        [$host, $port] = explode(':', (string) stream_socket_get_name($client, false));
        self::assertSame($host, $echo['remote_addr']);
        self::assertSame((int) $port, $echo['remote_port']);
        self::assertArrayNotHasKey('connection', $first['headers']);

        $http->write(self::get('/'));
        $second = $http->response();
        self::assertSame('Hello, World!', $second['body']);
        self::assertSame('13', $second['headers']['content-length']);
        self::assertTrue($http->nothingWithin(0.1), 'the connection stays open');
        if ($mode === 'fd_passing') {
            self::assertNotContains($id, $peer->closed);
        }
        fclose($client);
        if ($mode === 'fd_passing') {
            $peer->waitClosed($id);
        } else {
            $peer->waitReport(static fn (array $r): bool => $r === ['open' => 0, 'accepted' => 1]);
        }
    }

    /** @dataProvider modes */
    public function testTheHelloWorkerAnswersInBothModes(string $mode): void
    {
        $peer = new HandoffPeer(__DIR__ . '/../workers/handoff-hello.php', $mode);
        $peer->handshake();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/') . self::get('/anything'));
        foreach ([1, 2] as $ignored) {
            $response = $http->response();
            self::assertSame(200, $response['status']);
            self::assertSame('Hello, World!', $response['body']);
            self::assertSame('text/plain', $response['headers']['content-type']);
        }
        $peer->stop();
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    public function testPipelinedRequestsAreAnsweredInOrder(): void
    {
        $peer = self::worker();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/echo?n=1') . "POST /echo?n=2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" . self::get('/echo?n=3'));
        foreach (['1' => '', '2' => 'abc', '3' => ''] as $n => $body) {
            $echo = json_decode($http->response()['body'], true);
            self::assertSame(['n' => (string) $n], $echo['query']);
            self::assertSame($body, $echo['body']);
        }
        self::assertTrue($http->nothingWithin(0.1));
    }

    public function testAChunkedRequestBodyAndAFormBody(): void
    {
        $peer = self::worker();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n");
        usleep(20000); // the rest in another segment
        $http->write("5;name=x\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n");
        $echo = json_decode($http->response()['body'], true);
        self::assertSame('Wikipedia', $echo['body']);

        $form = 'name=Ann+B&tags%5B%5D=x&tags%5B%5D=y';
        $http->write("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: " . \strlen($form) . "\r\n\r\n$form");
        $echo = json_decode($http->response()['body'], true);
        self::assertSame(['name' => 'Ann B', 'tags' => ['x', 'y']], $echo['parsed']);
    }

    public function testExpectContinue(): void
    {
        $peer = self::worker();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write("PUT /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        self::assertSame(100, $http->response()['status']);
        $http->write('data');
        self::assertSame('data', json_decode($http->response()['body'], true)['body']);
    }

    public function testABodyOfUnknownSizeIsSentChunked(): void
    {
        $peer = self::worker();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/stream?n=4'));
        $response = $http->response();
        self::assertSame('chunked', $response['headers']['transfer-encoding']);
        self::assertArrayNotHasKey('content-length', $response['headers']);
        self::assertSame('part0;part1;part2;part3;', $response['body']);
        // HTTP/1.0 has no chunked coding: a Content-Length instead.
        $http->write("GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        $response = $http->response();
        self::assertSame('12', $response['headers']['content-length']);
        self::assertSame('keep-alive', $response['headers']['connection']);
        self::assertSame('part0;part1;', $response['body']);
        // HEAD: the head only.
        $http->write("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
        self::assertSame('13', $http->response(true)['headers']['content-length']);
        $http->write(self::get('/'));
        self::assertSame('Hello, World!', $http->response()['body']);
    }

    /** @return iterable<string, array{string, int}> */
    public static function refused(): iterable
    {
        yield '431: a head over max_header_size' => [self::get('/', 'X-Big: ' . str_repeat('a', 3000) . "\r\n"), 431];
        yield '431: an endless head' => ['GET /' . str_repeat('a', 5000), 431];
        yield '413: a body over max_body_size' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n", 413];
        yield '413: a chunked body over max_body_size' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" . str_repeat('b', 2048), 413];
        yield '400: garbage' => ["\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400];
        yield '400: no Host' => ["GET / HTTP/1.1\r\n\r\n", 400];
        yield '400: smuggling' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400];
        yield '505: HTTP/2.0' => ["GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505];
    }

    /** @dataProvider refused */
    public function testRefusedRequestsAreAnsweredAndClosed(string $wire, int $status): void
    {
        $peer = self::worker('fd_passing', ['HANDOFF_MAX_HEADER_SIZE' => '2048', 'HANDOFF_MAX_BODY_SIZE' => '1024']);
        [$client, $id] = $peer->connect();
        $http = new RawHttp($client);
        $http->write($wire);
        $response = $http->response();
        self::assertSame($status, $response['status']);
        self::assertSame('close', $response['headers']['connection']);
        $http->waitClose();      // the worker shut down writing after the answer...
        fclose($client);         // ...and reads on until the client closes (lingering close)
        $peer->waitClosed($id);
        // The worker goes on.
        [$next] = $peer->connect();
        $http = new RawHttp($next);
        $http->write(self::get('/'));
        self::assertSame('Hello, World!', $http->response()['body']);
    }

    public function testConnectionCloseIsHonoured(): void
    {
        $peer = self::worker();
        foreach ([
            self::get('/', "Connection: close\r\n"),   // the client's
            "GET / HTTP/1.0\r\n\r\n",                 // HTTP/1.0's default
            self::get('/close'),                       // the application's
        ] as $wire) {
            [$client, $id] = $peer->connect();
            $http = new RawHttp($client);
            $http->write($wire . self::get('/never'));
            $response = $http->response();
            self::assertSame(200, $response['status']);
            self::assertSame('close', $response['headers']['connection'] ?? null, $wire);
            $http->waitClose();
            self::assertSame('', $http->buffered(), 'no answer after the close');
            $peer->waitClosed($id);
        }
    }

    public function testTheHandlersExceptionIs500AndTheNextRequestIsServed(): void
    {
        $peer = self::worker();
        [$client] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/boom'));
        $response = $http->response();
        self::assertSame(500, $response['status']);
        self::assertStringNotContainsString('boom', $response['body'], 'no details leak to the client');
        $http->write(self::get('/'));
        self::assertSame('Hello, World!', $http->response()['body']);
        self::assertStringContainsString('RuntimeException: boom', $peer->stderr());
    }

    public function testASilentConnectionIsClosedAfterTheHeaderTimeout(): void
    {
        $peer = self::worker('fd_passing', ['HANDOFF_HEADER_TIMEOUT' => '0.3']);
        [$silent, $silentId] = $peer->connect();
        [$partial, $partialId] = $peer->connect();
        [$prompt] = $peer->connect();
        $slow = new RawHttp($partial);
        $slow->write("GET / HTTP/1.1\r\nHost: h\r\n");     // never finished
        $ok = new RawHttp($prompt);
        $ok->write(self::get('/'));
        self::assertSame('Hello, World!', $ok->response()['body']);

        $start = microtime(true);
        $peer->waitClosed($silentId);
        $peer->waitClosed($partialId);
        (new RawHttp($silent))->waitClose();
        $slow->waitClose();
        $elapsed = microtime(true) - $start;
        self::assertGreaterThan(0.2, $elapsed, 'not before the timeout');
        self::assertLessThan(3.0, $elapsed);
        self::assertSame('', $slow->buffered(), 'closed without an answer');
    }

    public function testAnIdleKeptAliveConnectionIsClosedAfterTheIdleTimeout(): void
    {
        $peer = self::worker('fd_passing', ['HANDOFF_IDLE_TIMEOUT' => '0.3', 'HANDOFF_HEADER_TIMEOUT' => '5']);
        [$client, $id] = $peer->connect();
        $http = new RawHttp($client);
        $http->write(self::get('/'));
        $http->response();
        $start = microtime(true);
        $http->waitClose();
        $peer->waitClosed($id);
        $elapsed = microtime(true) - $start;
        self::assertGreaterThan(0.2, $elapsed);
        self::assertLessThan(3.0, $elapsed);
    }

    public function testReuseportAcceptsAndReportsOpenAndAccepted(): void
    {
        $peer = self::worker('reuseport');
        [$a] = $peer->connect();
        [$b] = $peer->connect();
        foreach ([$a, $b] as $client) {
            $http = new RawHttp($client);
            $http->write(self::get('/'));
            self::assertSame('Hello, World!', $http->response()['body']);
        }
        $peer->waitReport(static fn (array $r): bool => $r === ['open' => 2, 'accepted' => 2]);
        fclose($a);
        $peer->waitReport(static fn (array $r): bool => $r === ['open' => 1, 'accepted' => 2]);
        foreach ($peer->reports as $report) {
            self::assertArrayNotHasKey('closed', $report, 'reuseport reports counts, not ids');
        }
        $peer->stop();
        $peer->waitReport(static fn (array $r): bool => $r === ['open' => 0, 'accepted' => 2]);
        self::assertSame(0, $peer->wait(), $peer->stderr());
        // The listening socket is shut: nothing is accepted any more.
        self::assertFalse(@stream_socket_client('tcp://' . $peer->address, $errno, $error, 1));
    }

    public function testStopFinishesTheRequestInFlightClosesIdleOnesAndExits0(): void
    {
        $peer = self::worker();
        [$idle, $idleId] = $peer->connect();
        $idleHttp = new RawHttp($idle);
        $idleHttp->write(self::get('/'));
        $idleHttp->response();
        [$busy, $busyId] = $peer->connect();
        $busyHttp = new RawHttp($busy);
        $busyHttp->write("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nhal");
        self::assertTrue($busyHttp->nothingWithin(0.1));

        $peer->stop();
        $idleHttp->waitClose();
        $peer->waitClosed($idleId);
        self::assertNull($peer->wait(0.2), 'still running: a request is in flight');

        $busyHttp->write('f!!');
        $response = $busyHttp->response();
        self::assertSame('half!!', json_decode($response['body'], true)['body']);
        self::assertSame('close', $response['headers']['connection']);
        $busyHttp->waitClose();
        $peer->waitClosed($busyId);
        self::assertSame(0, $peer->wait(), $peer->stderr());
        self::assertStringContainsString('handoff-app: stopped', $peer->stderr());
    }

    public function testAHangUpOfTheControlSocketStopsTheWorker(): void
    {
        $peer = self::worker();
        socket_close($peer->control);
        self::assertSame(0, $peer->wait(), $peer->stderr());
    }

    public function testAHostileControlFrameEndsTheWorkerWithAClearError(): void
    {
        $peer = self::worker();
        $peer->sendRaw("\x13\x08garbage-garbage");
        $code = $peer->wait();
        self::assertNotSame(0, $code);
        self::assertNotNull($code);
        self::assertStringContainsString('HandoffException', $peer->stderr());
        self::assertStringContainsString('CRC', $peer->stderr());
    }
}
