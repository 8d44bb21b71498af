<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\FrameException;
use Coyote\Goridge\RelayClosedException;
use Coyote\Goridge\StreamRelay;
use PHPUnit\Framework\TestCase;

/** A socket relay reads through its own buffer: frames however the bytes arrive. */
final class SocketRelayTest extends TestCase
{
    /** @var resource */
    private $peer;
    private StreamRelay $relay;

    protected function setUp(): void
    {
        $pair = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        self::assertIsArray($pair);
        [$a, $this->peer] = $pair;
        stream_set_read_buffer($a, 0);
        $this->relay = new StreamRelay($a, $a, Frame::DEFAULT_MAX_PAYLOAD, true);
    }

    public function testFramesSharingOneReadAndFramesSplitAcrossReads(): void
    {
        $big = random_bytes(100000);
        $bytes = (new Frame('one', Frame::CODEC_RAW, [1, 0]))->encode()
            . (new Frame('two', Frame::CODEC_PROTO, [2, 3]))->encode()
            . (new Frame($big, Frame::CODEC_RAW, [3, 0]))->encode();
        // The first two frames and 5 header bytes of the third in one write.
        $cut = 2 * (12 + 8 + 3) + 5;
        fwrite($this->peer, substr($bytes, 0, $cut));
        $one = $this->relay->receive();
        self::assertSame(['one', [1, 0]], [$one->payload, $one->options]);
        self::assertTrue($this->relay->hasPending(), 'the second frame is buffered');
        $two = $this->relay->receive();
        self::assertSame(['two', [2, 3], Frame::CODEC_PROTO], [$two->payload, $two->options, $two->flags]);
        // The rest (over one 64 KiB read, under the socket's buffer).
        $rest = substr($bytes, $cut);
        self::assertSame(\strlen($rest), fwrite($this->peer, $rest));
        $three = $this->relay->receive();
        self::assertSame([3, 0], $three->options);
        self::assertSame($big, $three->payload);
        self::assertFalse($this->relay->hasPending());
    }

    public function testCloseBetweenFramesAndInsideOne(): void
    {
        $frame = (new Frame('abc', Frame::CODEC_RAW, [1, 0]))->encode();
        fwrite($this->peer, $frame . substr($frame, 0, 7));
        self::assertSame('abc', $this->relay->receive()->payload);
        fclose($this->peer);
        $this->expectException(FrameException::class);
        $this->expectExceptionMessage('relay closed inside a frame (7 of 12 bytes)');
        $this->relay->receive();
    }

    public function testCloseAtAFrameBoundary(): void
    {
        fclose($this->peer);
        $this->expectException(RelayClosedException::class);
        $this->relay->receive();
    }
}
