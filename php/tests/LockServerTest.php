<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/Yaml.php';
require_once __DIR__ . '/Support/Server.php';

use Coyote\Lock\Lock;
use Coyote\Lock\LockException;
use Coyote\Tests\Support\Server;
use PHPUnit\Framework\TestCase;

/** The lock SDK against the real server (RPC only, the memory lock table). */
final class LockServerTest extends TestCase
{
    private Server $server;
    private Lock $lock;

    protected function setUp(): void
    {
        $this->server = Server::start(static fn (string $log): array => [
            'version' => '3',
            'rpc' => ['listen' => 'tcp://127.0.0.1:0'],
        ]);
        $this->lock = Lock::create($this->server->rpc);
    }

    protected function tearDown(): void
    {
        if (isset($this->server)) {
            $this->server->stop();
        }
    }

    public function testExclusiveLockAndRelease(): void
    {
        $id = $this->lock->lock('res');
        self::assertIsString($id);
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $id);
        self::assertFalse($this->lock->lock('res', 'other'));
        self::assertFalse($this->lock->lockRead('res', 'other'));
        self::assertTrue($this->lock->exists('res'));
        self::assertTrue($this->lock->exists('res', $id));
        self::assertFalse($this->lock->exists('res', 'other'));
        self::assertFalse($this->lock->release('res', 'other'));
        self::assertTrue($this->lock->release('res', $id));
        self::assertFalse($this->lock->exists('res'));
    }

    public function testReadLocksShareAndForceReleaseDropsThem(): void
    {
        self::assertSame('r1', $this->lock->lockRead('doc', 'r1'));
        self::assertSame('r2', $this->lock->lockRead('doc', 'r2'));
        // The RoadRunner 2025 sequence: a refused exclusive lock leaves nothing behind.
        $started = microtime(true);
        self::assertFalse($this->lock->lock('doc', 'w', 0, 0.2));
        self::assertGreaterThanOrEqual(0.19, microtime(true) - $started);
        self::assertSame('r3', $this->lock->lockRead('doc', 'r3'));
        self::assertTrue($this->lock->release('doc', 'r1'));
        self::assertTrue($this->lock->forceRelease('doc'));
        self::assertFalse($this->lock->exists('doc'));
        self::assertSame('w2', $this->lock->lock('doc', 'w2'));
    }

    public function testTtlExpiresWhileWaiting(): void
    {
        self::assertSame('a', $this->lock->lock('t', 'a', 0.3));
        $started = microtime(true);
        // Blocks on the lock until a's TTL runs out.
        self::assertSame('b', $this->lock->lock('t', 'b', new \DateInterval('PT1M'), 10));
        $waited = microtime(true) - $started;
        self::assertGreaterThanOrEqual(0.25, $waited);
        self::assertLessThan(5.0, $waited);
        self::assertFalse($this->lock->exists('t', 'a'));
        self::assertTrue($this->lock->updateTTL('t', 'b', 0.2));
        self::assertFalse($this->lock->updateTTL('t', 'b', 0));
        $this->server->waitFor(fn (): bool => !$this->lock->exists('t'), 5.0, fn (): string => 'b expired');
    }

    public function testTimesAreMicroseconds(): void
    {
        self::assertSame(1_500_000, Lock::microseconds(1.5));
        self::assertSame(2_000_000, Lock::microseconds(2));
        self::assertSame(90_000_000, Lock::microseconds(new \DateInterval('PT1M30S')));
        self::assertSame(86_400_000_000, Lock::microseconds(new \DateInterval('P1D')));
        $this->expectException(\InvalidArgumentException::class);
        Lock::microseconds(-1);
    }

    public function testBadInputIsALockException(): void
    {
        try {
            $this->lock->lock('', 'a');
            self::fail('an empty resource was accepted');
        } catch (LockException $e) {
            self::assertStringContainsString('empty resource', $e->getMessage());
        }
        try {
            $this->lock->release('r', '');
            self::fail('an empty id was accepted');
        } catch (LockException $e) {
            self::assertStringContainsString('empty ID', $e->getMessage());
        }
        try {
            $this->lock->lock('r', 'a', 0, 86400 * 365);
            self::fail('a year of wait was accepted');
        } catch (LockException $e) {
            self::assertStringContainsString('above the limit', $e->getMessage());
        }
        self::assertSame('a', $this->lock->lock('r', 'a'));
    }
}
