<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use Coyote\Tcp\TcpEvent;
use Coyote\Tcp\TcpResponse;
use Coyote\Tcp\TcpWorker;
use Coyote\Worker\Worker;
use PHPUnit\Framework\TestCase;

/** Drives a TcpWorker over a socket pair, playing the tcp plugin's side. */
final class TcpWorkerTest extends TestCase
{
    private StreamRelay $server;
    private TcpWorker $tcp;

    protected function setUp(): void
    {
        [$a, $b] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        $this->server = new StreamRelay($a, $a);
        $this->tcp = new TcpWorker(new Worker(new StreamRelay($b, $b), false));
    }

    private function send(string $event, string $body = ''): void
    {
        $context = json_encode([
            'remote_addr' => '127.0.0.1:50000',
            'server' => 'echo',
            'uuid' => '5191d583-4661-4781-bfe8-4461aab5072e',
            'event' => $event,
        ], \JSON_THROW_ON_ERROR);
        $this->server->send(new Frame($context . $body, Frame::CODEC_JSON, [\strlen($context)]));
    }

    public function testEventsAreRead(): void
    {
        $this->send('CONNECTED');
        $request = $this->tcp->waitRequest();
        self::assertNotNull($request);
        self::assertSame(TcpEvent::Connected, $request->event);
        self::assertSame('127.0.0.1:50000', $request->getRemoteAddress());
        self::assertSame('echo', $request->getServer());
        self::assertSame('5191d583-4661-4781-bfe8-4461aab5072e', $request->getConnectionUuid());
        self::assertSame('', $request->getBody());

        $this->tcp->read();
        $this->send('DATA', "raw\0data\r\n");
        $request = $this->tcp->waitRequest();
        self::assertSame(TcpEvent::Data, $request?->getEvent());
        self::assertSame("raw\0data\r\n", $request?->body);
    }

    public function testUnknownOrMissingEventsAreUnknown(): void
    {
        foreach (['SOMETHING', 'connected'] as $event) {
            $this->send($event);
            self::assertSame(TcpEvent::Unknown, $this->tcp->waitRequest()?->event);
            $this->tcp->read();
            $this->server->receive();
        }
        $this->server->send(new Frame('{"uuid":"u"}', Frame::CODEC_JSON, [12]));
        self::assertSame(TcpEvent::Unknown, $this->tcp->waitRequest()?->event);
    }

    public function testABadContextThrows(): void
    {
        $this->server->send(new Frame('{123}', Frame::CODEC_JSON, [5]));
        $this->expectException(\JsonException::class);
        $this->tcp->waitRequest();
    }

    public function testAnswersCarryTheActionAsContextAndTheDataAsBody(): void
    {
        $cases = [
            [fn () => $this->tcp->respond('hi'), 'WRITE', 'hi'],
            [fn () => $this->tcp->respond('bye', TcpResponse::RespondClose), 'WRITECLOSE', 'bye'],
            [fn () => $this->tcp->read(), 'CONTINUE', ''],
            [fn () => $this->tcp->close(), 'CLOSE', ''],
        ];
        foreach ($cases as [$answer, $action, $body]) {
            $answer();
            $frame = $this->server->receive();
            self::assertSame([\strlen($action)], $frame->options);
            self::assertSame($action . $body, $frame->payload);
            self::assertSame(0, $frame->stream);
        }
    }

    public function testStopEndsTheLoop(): void
    {
        $this->server->send(new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertNull($this->tcp->waitRequest());
    }

    public function testEnumValuesAreTheServersNames(): void
    {
        self::assertSame(['CONNECTED', 'DATA', 'CLOSE', 'UNKNOWN'], array_map(
            static fn (TcpEvent $e): string => $e->value,
            TcpEvent::cases(),
        ));
        self::assertSame('CONTINUE', TcpResponse::Read->value);
        self::assertSame('WRITE', TcpResponse::Respond->value);
        self::assertSame('WRITECLOSE', TcpResponse::RespondClose->value);
        self::assertSame('CLOSE', TcpResponse::Close->value);
    }
}
