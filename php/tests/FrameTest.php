<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\FrameException;
use PHPUnit\Framework\TestCase;

final class FrameTest extends TestCase
{
    /** Bytes checked independently with Python's zlib.crc32 (see spec). */
    public function testPidControlFrameGoldenBytes(): void
    {
        $frame = new Frame('{"pid":1234}', Frame::CONTROL | Frame::CODEC_JSON);
        self::assertSame('13090c0000005f0c46730000' . bin2hex('{"pid":1234}'), bin2hex($frame->encode()));
    }

    public function testStreamFrameWithOptionGoldenBytes(): void
    {
        $frame = new Frame('{}abc', Frame::CODEC_JSON, [2], Frame::STREAM);
        self::assertSame('140805000000dd5a2b2e0100020000007b7d616263', bin2hex($frame->encode()));
    }

    public function testRoundTripWithOptions(): void
    {
        foreach ([[], [0], [7, 12], range(1, 10)] as $options) {
            $frame = new Frame(random_bytes(100), Frame::CODEC_PROTO | Frame::ERROR, $options, Frame::PING);
            $back = Frame::decode($frame->encode());
            self::assertEquals($frame, $back);
        }
    }

    public function testTooManyOptionsRejected(): void
    {
        $this->expectException(FrameException::class);
        (new Frame('', 0, range(1, 11)))->encode();
    }

    public function testBadCrcRejected(): void
    {
        $bytes = (new Frame('x', 0, [0]))->encode();
        $bytes[6] = chr(ord($bytes[6]) ^ 1);
        $this->expectExceptionMessage('CRC');
        Frame::decode($bytes);
    }

    /** @return iterable<array{int}> */
    public static function badLengths(): iterable
    {
        yield [0x12];
        yield [0x1e];
    }

    /** @dataProvider badLengths */
    public function testHeaderLengthOutOfRangeRejected(int $vl): void
    {
        $head = pack('CCV', $vl, 0, 0);
        $this->expectExceptionMessage('invalid header length');
        Frame::decode($head . pack('VCC', crc32($head), 0, 0));
    }

    public function testOtherVersionRejected(): void
    {
        $head = pack('CCV', 0x23, 0, 0);
        $this->expectExceptionMessage('version 2');
        Frame::decode($head . pack('VCC', crc32($head), 0, 0));
    }

    public function testOversizePayloadRejectedFromHeader(): void
    {
        $head = pack('CCV', 0x13, 0, 0xFFFFFFF0);
        $this->expectExceptionMessage('exceeds the limit');
        Frame::parseHeader($head . pack('VCC', crc32($head), 0, 0), 1 << 20);
    }

    public function testTruncatedRejected(): void
    {
        $bytes = (new Frame('hello', 0, [1]))->encode();
        $this->expectExceptionMessage('truncated');
        Frame::decode(substr($bytes, 0, -1));
    }
}
