<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Service\ServiceException;
use Coyote\Service\Wire;
use PHPUnit\Framework\TestCase;

/**
 * The hand-written service.v1 codec against the bytes the server's own
 * encoder (prost) produces: the same constants are asserted in
 * crates/service/src/proto.rs (golden_bytes_shared_with_the_php_client).
 */
final class ServiceWireTest extends TestCase
{
    private const CREATE = '0a0463726f6e120970687020612e70687018022007280132060a014112013132060a0142120178380340014809';
    private const NEGATIVE = '0a016e18ffffffffffffffffff01';
    private const STATUSES = '0a190d000048411092211880e497d012220970687020612e7068700a2a104d220970687020612e7068702a1b08fdffffffffffffffff0112066578697465641a060a0174120176';
    private const LIST = '0a01610a026263';
    private const RESPONSE = '0a016d1001';

    public function testCreateIsEncodedAsTheServerEncodesIt(): void
    {
        // Env keys in any order: encoded sorted, as the server's map is.
        $bytes = Wire::create('cron', 'php a.php', 2, 7, true, ['B' => 'x', 'A' => '1'], 3, true, 9);
        self::assertSame(self::CREATE, bin2hex($bytes));
        self::assertSame(self::NEGATIVE, bin2hex(Wire::create('n', '', -1, 0, false, [], 0, false, 0)));
        self::assertSame('0a03616263', bin2hex(Wire::service('abc')));
        self::assertSame('', Wire::service(''));
    }

    public function testAnswersAreDecoded(): void
    {
        self::assertSame(['a', 'bc'], Wire::names(hex2bin(self::LIST)));
        self::assertSame([], Wire::names(''));
        self::assertTrue(Wire::ok(hex2bin(self::RESPONSE)));
        self::assertFalse(Wire::ok(''));
        self::assertSame([
            ['cpu_percent' => 12.5, 'pid' => 4242, 'memory_usage' => 5_000_000_000, 'command' => 'php a.php', 'error' => null],
            ['cpu_percent' => 0.0, 'pid' => 77, 'memory_usage' => 0, 'command' => 'php a.php', 'error' => [
                'code' => -3,
                'message' => 'exited',
                'details' => [['message' => 'v', 'type_url' => 't']],
            ]],
        ], Wire::statuses(hex2bin(self::STATUSES)));
    }

    public function testMalformedAnswersRaise(): void
    {
        $this->expectException(ServiceException::class);
        Wire::statuses("\x0a\x7f" . 'short');
    }
}
