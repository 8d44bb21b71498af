<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Handoff\Connection;
use Coyote\Handoff\ControlChannel;
use Coyote\Handoff\HandoffException;
use Coyote\Handoff\Mode;
use Coyote\Handoff\Stop;
use PHPUnit\Framework\TestCase;

/**
 * The control channel in-process over a real AF_UNIX SOCK_SEQPACKET pair:
 * this test plays Coyote on one end, a ControlChannel is the other.
 */
final class HandoffControlTest extends TestCase
{
    private \Socket $coyote;
    private ControlChannel $channel;
    /** @var resource */
    private $listener;

    protected function setUp(): void
    {
        self::assertTrue(socket_create_pair(\AF_UNIX, \SOCK_SEQPACKET, 0, $pair));
        [$this->coyote, $worker] = $pair;
        $this->channel = new ControlChannel($worker, null, Mode::FdPassing, 'web');
        $this->listener = stream_socket_server('tcp://127.0.0.1:0');
    }

    private function send(string $bytes, $fd = null): void
    {
        $message = ['iov' => [$bytes]];
        if ($fd !== null) {
            $message['control'] = [['level' => \SOL_SOCKET, 'type' => \SCM_RIGHTS, 'data' => [$fd]]];
        }
        self::assertNotFalse(socket_sendmsg($this->coyote, $message, 0));
    }

    private function frameFromWorker(): Frame
    {
        $read = [$this->coyote];
        $write = $except = null;
        self::assertSame(1, socket_select($read, $write, $except, 5));
        $bytes = '';
        self::assertGreaterThan(0, socket_recv($this->coyote, $bytes, 1 << 20, 0));
        return Frame::decode($bytes);
    }

    private function handshake(): void
    {
        $this->send((new Frame('{"pid":1234}', Frame::CONTROL | Frame::CODEC_JSON))->encode());
        self::assertSame(1234, $this->channel->handshake(5));
        $answer = $this->frameFromWorker();
        self::assertTrue($answer->hasFlag(Frame::CONTROL));
        self::assertSame(['pid' => getmypid()], json_decode($answer->payload, true));
    }

    /** @return array{resource, resource} client, accepted */
    private function tcpPair(): array
    {
        $client = stream_socket_client('tcp://' . stream_socket_get_name($this->listener, false));
        $accepted = stream_socket_accept($this->listener, 5);
        self::assertNotFalse($accepted);
        return [$client, $accepted];
    }

    private static function openFds(): int
    {
        return \count(scandir('/proc/self/fd')) - 2;
    }

    public function testTheHandshakeAnswersWithThisPid(): void
    {
        $this->handshake();
    }

    public function testTheHandshakeTimesOut(): void
    {
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('no handshake');
        $this->channel->handshake(0.05);
    }

    public function testAPassedConnectionArrivesWithItsDescriptorAndMeta(): void
    {
        $this->handshake();
        [$client, $accepted] = $this->tcpPair();
        $peer = (string) stream_socket_get_name($client, false);
        $this->send((new Frame(json_encode(['id' => 17, 'peer' => $peer, 'local' => '127.0.0.1:9000', 'listener' => 'web']), Frame::CODEC_JSON))->encode(), $accepted);
        fclose($accepted); // Coyote's copy gone: only the worker's remains

        $connection = $this->channel->receive();
        self::assertInstanceOf(Connection::class, $connection);
        self::assertSame(17, $connection->id());
        self::assertSame($peer, $connection->meta->peer);
        self::assertSame('127.0.0.1', $connection->meta->peerHost());
        self::assertSame((int) substr($peer, strrpos($peer, ':') + 1), $connection->meta->peerPort());
        self::assertSame(9000, $connection->meta->localPort());
        self::assertSame('web', $connection->meta->listener);
        self::assertSame(Mode::FdPassing, $connection->meta->mode);

        // The descriptor is the client's connection, usable as a stream.
        stream_set_blocking($connection->stream, true);
        fwrite($client, "ping\n");
        self::assertSame("ping\n", fgets($connection->stream));
        fwrite($connection->stream, "pong\n");
        self::assertSame("pong\n", fgets($client));
        $connection->close();
        self::assertSame('', (string) fread($client, 10));
        self::assertTrue(feof($client));
        self::assertNull($this->channel->receive());
    }

    public function testReceiveDoesNotBlockWhenNothingWaits(): void
    {
        $this->handshake();
        $start = microtime(true);
        self::assertNull($this->channel->receive());
        self::assertLessThan(0.5, microtime(true) - $start);
    }

    public function testTheStopFrameAndAHangUpAreStops(): void
    {
        $this->handshake();
        $this->send((new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON))->encode());
        $stop = $this->channel->receive();
        self::assertInstanceOf(Stop::class, $stop);
        self::assertFalse($stop->eof);
        socket_close($this->coyote);
        $eof = $this->channel->receive();
        self::assertInstanceOf(Stop::class, $eof);
        self::assertTrue($eof->eof);
    }

    /** @return iterable<string, array{string, bool, string}> */
    public static function hostile(): iterable
    {
        $good = (new Frame('{"id":1}', Frame::CODEC_JSON))->encode();
        $badCrc = $good;
        $badCrc[7] = \chr(\ord($badCrc[7]) ^ 0xff);
        yield 'short' => ["\x13\x08\x00", true, 'short control message'];
        yield 'bad CRC' => [$badCrc, true, 'CRC'];
        yield 'payload longer than the message' => [substr($good, 0, -2), true, 'truncated'];
        yield 'bytes after the frame' => [$good . 'xx', true, 'after its frame'];
        yield 'not JSON' => [(new Frame('{id', Frame::CODEC_JSON))->encode(), true, 'not a JSON object'];
        yield 'a JSON list' => [(new Frame('[1,2]', Frame::CODEC_JSON))->encode(), true, 'not a JSON object'];
        yield 'no id' => [(new Frame('{"peer":"x"}', Frame::CODEC_JSON))->encode(), true, 'integer id'];
        yield 'no descriptor' => [$good, false, 'expected exactly one'];
        yield 'unknown control' => [(new Frame('{"what":1}', Frame::CONTROL))->encode(), true, 'unknown control frame'];
        yield 'stop with a descriptor' => [(new Frame('{"stop":true}', Frame::CONTROL))->encode(), true, 'carries descriptors'];
    }

    /** @dataProvider hostile */
    public function testHostileMessagesThrowAndLeakNoDescriptor(string $bytes, bool $withFd, string $message): void
    {
        $this->handshake();
        [$client, $accepted] = $this->tcpPair();
        $before = self::openFds();
        $this->send($bytes, $withFd ? $accepted : null);
        try {
            $this->channel->receive();
            self::fail('no exception');
        } catch (HandoffException $e) {
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertSame($before, self::openFds(), 'the received descriptor is closed');
    }

    public function testAConnectionBeforeTheHandshakeIsRefused(): void
    {
        [, $accepted] = $this->tcpPair();
        $this->send((new Frame('{"id":1}', Frame::CODEC_JSON))->encode(), $accepted);
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('before the handshake');
        $this->channel->receive();
    }

    public function testAMessageOverTheLimitIsRefused(): void
    {
        $this->handshake();
        $this->send((new Frame(json_encode(['id' => 1, 'pad' => str_repeat('x', ControlChannel::MAX_MESSAGE)]), Frame::CODEC_JSON))->encode());
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('longer than');
        $this->channel->receive();
    }

    public function testAPassedDescriptorThatIsNotASocketIsRefused(): void
    {
        $this->handshake();
        $this->send((new Frame('{"id":1}', Frame::CODEC_JSON))->encode(), fopen(__FILE__, 'r'));
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('not a socket');
        $this->channel->receive();
    }

    public function testReportsCarryAtMost4096Ids(): void
    {
        $this->handshake();
        $this->channel->report(range(1, 5000));
        $first = $this->frameFromWorker();
        self::assertSame(Frame::CODEC_JSON, $first->flags);
        self::assertSame(['closed' => range(1, 4096)], json_decode($first->payload, true));
        self::assertSame(['closed' => range(4097, 5000)], json_decode($this->frameFromWorker()->payload, true));
        $this->channel->report([], 3, 10);
        self::assertSame(['open' => 3, 'accepted' => 10], json_decode($this->frameFromWorker()->payload, true));
        self::assertFalse($this->channel->hasPending());
    }

    public function testAStreamSocketIsNotAControlSocket(): void
    {
        self::assertTrue(socket_create_pair(\AF_UNIX, \SOCK_STREAM, 0, $pair));
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('SOCK_SEQPACKET');
        new ControlChannel($pair[0]);
    }

    public function testAMissingDescriptorIsAClearError(): void
    {
        $this->expectException(HandoffException::class);
        $this->expectExceptionMessage('descriptor 987 is not open');
        ControlChannel::fromFd(987);
    }
}
