<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Handoff\HttpError;
use Coyote\Handoff\RequestParser;
use PHPUnit\Framework\TestCase;

/** The HTTP/1.x request parser of the hand-off HttpServer, without sockets. */
final class HandoffParserTest extends TestCase
{
    public function testPipelinedRequestsComeOutInOrder(): void
    {
        $parser = new RequestParser();
        $parser->feed("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
            . "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            . "GET /c HTTP/1.0\r\n\r\n");
        $a = $parser->next();
        self::assertSame(['GET', '/a?x=1', '1.1', true], [$a->method, $a->target, $a->version, $a->keepAlive]);
        self::assertSame(['1', '2'], $a->header('X-A'));
        $b = $parser->next();
        self::assertSame(['POST', '/b', 'hello'], [$b->method, $b->target, $b->body]);
        $c = $parser->next();
        self::assertSame(['/c', '1.0', false], [$c->target, $c->version, $c->keepAlive]);
        self::assertNull($parser->next());
        self::assertFalse($parser->hasPartial());
    }

    public function testARequestFedByteByByte(): void
    {
        $parser = new RequestParser();
        $wire = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            . "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        $request = null;
        foreach (str_split($wire) as $i => $byte) {
            self::assertNull($request, "complete before byte $i");
            $parser->feed($byte);
            $request = $parser->next();
        }
        self::assertNotNull($request);
        self::assertSame('hello, world', $request->body);
        self::assertFalse($parser->hasPartial());
    }

    public function testKeepAliveDefaults(): void
    {
        $cases = [
            ["GET / HTTP/1.1\r\nHost: h\r\n\r\n", true],
            ["GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false],
            ["GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n", false],
            ["GET / HTTP/1.0\r\n\r\n", false],
            ["GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true],
        ];
        foreach ($cases as [$wire, $keepAlive]) {
            $parser = new RequestParser();
            $parser->feed($wire);
            self::assertSame($keepAlive, $parser->next()?->keepAlive, $wire);
        }
    }

    public function testExpectContinueIsAskedOnceWhileTheBodyIsMissing(): void
    {
        $parser = new RequestParser();
        $parser->feed("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
        self::assertNull($parser->next());
        self::assertTrue($parser->takeContinue());
        self::assertFalse($parser->takeContinue());
        $parser->feed('ok');
        self::assertSame('ok', $parser->next()?->body);
    }

    /** @return iterable<string, array{string, int, 2?: array{int, int}}> */
    public static function refused(): iterable
    {
        yield 'garbage' => ["hello\r\n\r\n", 400];
        yield 'two spaces' => ["GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400];
        yield 'bad version' => ["GET / HTTP/x\r\nHost: h\r\n\r\n", 400];
        yield 'HTTP/2' => ["GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505];
        yield 'no Host in 1.1' => ["GET / HTTP/1.1\r\n\r\n", 400];
        yield 'two Hosts' => ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400];
        yield 'space before colon' => ["GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400];
        yield 'obs-fold' => ["GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400];
        yield 'NUL in a value' => ["GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400];
        yield 'CL and TE' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400];
        yield 'two lengths' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400];
        yield 'negative length' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400];
        yield 'gzip' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501];
        yield 'chunked not last' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400];
        yield 'TE in 1.0' => ["POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400];
        yield 'bad chunk size' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400];
        yield 'chunk without CRLF' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n", 400];
        yield 'head too large' => ["GET / HTTP/1.1\r\nHost: h\r\nX: " . str_repeat('a', 200) . "\r\n\r\n", 431, [128, 100]];
        yield 'head too large, unterminated' => ['GET /' . str_repeat('a', 200), 431, [128, 100]];
        yield 'body too large' => ["POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413, [1024, 100]];
        yield 'chunked body too large' => ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" . str_repeat('a', 64) . "\r\n40\r\n", 413, [1024, 100]];
    }

    /**
     * @dataProvider refused
     * @param array{int, int} $limits
     */
    public function testRefusedRequests(string $wire, int $status, array $limits = [16384, 1 << 20]): void
    {
        $parser = new RequestParser(...$limits);
        $parser->feed($wire);
        try {
            $parser->next();
            self::fail("accepted: $wire");
        } catch (HttpError $e) {
            self::assertSame($status, $e->status, $e->getMessage());
        }
    }

    public function testLeadingEmptyLinesAreIgnored(): void
    {
        $parser = new RequestParser();
        $parser->feed("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        self::assertSame('/', $parser->next()?->target);
    }
}
