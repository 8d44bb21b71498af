<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use Coyote\Worker\Payload;
use Coyote\Worker\Worker;
use PHPUnit\Framework\TestCase;

/** Drives a Worker over a socket pair, playing the server's side. */
final class WorkerTest extends TestCase
{
    private StreamRelay $server;
    private Worker $worker;

    protected function setUp(): void
    {
        [$a, $b] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        $this->server = new StreamRelay($a, $a);
        $this->worker = new Worker(new StreamRelay($b, $b), false);
    }

    public function testRelayAddressesParse(): void
    {
        self::assertInstanceOf(StreamRelay::class, StreamRelay::create('pipes'));
        $this->expectException(\InvalidArgumentException::class);
        StreamRelay::create('udp://127.0.0.1:1');
    }

    public function testHandshakeThenExec(): void
    {
        $this->server->send(new Frame('{"pid":1}', Frame::CONTROL | Frame::CODEC_JSON));
        $this->server->send(new Frame('ctxbody', Frame::CODEC_RAW, [3]));
        $payload = $this->worker->waitPayload();
        self::assertNotNull($payload);

        $hello = $this->server->receive();
        self::assertSame(Frame::CONTROL, $hello->flags);
        self::assertSame(['pid' => getmypid()], json_decode($hello->payload, true));

        self::assertSame('ctx', $payload->header);
        self::assertSame('body', $payload->body);
        self::assertSame(Frame::CODEC_RAW, $payload->codec);

        $this->worker->respond(new Payload('out', 'hdr'));
        $answer = $this->server->receive();
        self::assertSame([3], $answer->options);
        self::assertSame('hdrout', $answer->payload);
        self::assertSame(0, $answer->stream);
    }

    public function testErrorAndStopRequest(): void
    {
        $this->worker->error('it failed');
        $error = $this->server->receive();
        self::assertSame(Frame::ERROR, $error->flags);
        self::assertSame('it failed', $error->payload);

        $this->worker->stop();
        $stop = $this->server->receive();
        self::assertSame('{"stop":true}', substr($stop->payload, 0, $stop->options[0]));
        self::assertSame('', substr($stop->payload, $stop->options[0]));
    }

    public function testStopControlEndsTheLoop(): void
    {
        $this->server->send(new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertNull($this->worker->waitPayload());
    }

    public function testStreamIsCancelledByStop(): void
    {
        self::assertTrue($this->worker->respond(new Payload('part-1', 'h', false)));
        $first = $this->server->receive();
        self::assertSame(Frame::STREAM, $first->stream & Frame::STREAM);

        $this->server->send(new Frame('', 0, [], Frame::STOP));
        self::assertFalse($this->worker->respond(new Payload('part-2', '', false)));
        $last = $this->server->receive();
        self::assertSame(0, $last->stream & Frame::STREAM, 'closing frame ends the stream');
        self::assertSame('', $last->payload);
    }
}
