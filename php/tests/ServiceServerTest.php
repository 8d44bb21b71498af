<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/Yaml.php';
require_once __DIR__ . '/Support/Server.php';

use Coyote\Service\Manager;
use Coyote\Service\ServiceException;
use Coyote\Tests\Support\Server;
use PHPUnit\Framework\TestCase;

/** The service SDK against the real server: real processes (sh scripts). */
final class ServiceServerTest extends TestCase
{
    private Server $server;
    private Manager $services;
    private string $loop;

    protected function setUp(): void
    {
        $this->server = Server::start(function (string $log): array {
            // The server's temp dir: the scripts live beside the config.
            $this->loop = \dirname($log) . '/loop.sh';
            file_put_contents($this->loop, "echo \"greeting=\$GREETING\"\nwhile :; do sleep 0.05; done\n");
            return [
                'version' => '3',
                'rpc' => ['listen' => 'tcp://127.0.0.1:0'],
                'service' => ['configured' => ['command' => "sh {$this->loop}", 'env' => ['greeting' => 'from config']]],
            ];
        });
        $this->services = Manager::connect($this->server->rpc);
    }

    protected function tearDown(): void
    {
        if (isset($this->server)) {
            $this->server->stop();
        }
    }

    public function testCreateStatusesRestartAndTerminate(): void
    {
        self::assertSame(['configured'], $this->services->list());
        self::assertTrue($this->services->create('made', "sh {$this->loop}", 2, env: ['greeting' => 'hello']));
        self::assertSame(['configured', 'made'], $this->services->list());

        $before = $this->services->statuses('made');
        self::assertCount(2, $before);
        foreach ($before as $status) {
            self::assertNull($status['error']);
            self::assertGreaterThan(0, $status['pid']);
            self::assertGreaterThan(0, $status['memory_usage']);
            self::assertSame("sh {$this->loop}", $status['command']);
            self::assertTrue(self::alive($status['pid']));
        }
        $pids = array_column($before, 'pid');
        self::assertContains($this->services->status('made')['pid'], $pids);
        $this->server->waitFor(
            fn (): bool => str_contains($this->server->output(), 'greeting=hello'),
            5.0,
            fn (): string => 'the created service\'s output',
        );
        self::assertStringContainsString('greeting=from config', $this->server->output());

        self::assertTrue($this->services->restart('made'));
        $after = array_column($this->services->statuses('made'), 'pid');
        self::assertCount(2, $after);
        self::assertSame([], array_intersect($pids, $after));
        foreach ($pids as $pid) {
            self::assertFalse(self::alive($pid), "pid $pid survived the restart");
        }

        self::assertTrue($this->services->terminate('made'));
        self::assertSame(['configured'], $this->services->list());
        foreach ($after as $pid) {
            self::assertFalse(self::alive($pid), "pid $pid survived Terminate");
        }
    }

    public function testErrorsCarryTheServersText(): void
    {
        foreach (['terminate', 'restart', 'statuses', 'status'] as $method) {
            try {
                $this->services->$method('nope');
                self::fail("$method of an unknown service succeeded");
            } catch (ServiceException $e) {
                self::assertStringContainsString('no such service: nope', $e->getMessage());
            }
        }
        try {
            $this->services->create('configured', 'sleep 1');
            self::fail('a duplicate name was accepted');
        } catch (ServiceException $e) {
            self::assertStringContainsString('service already exists: configured', $e->getMessage());
        }
        try {
            $this->services->create('ghost', '/no/such/program');
            self::fail('a missing program was accepted');
        } catch (ServiceException $e) {
            self::assertStringContainsString('cannot start "/no/such/program"', $e->getMessage());
        }
        self::assertSame(['configured'], $this->services->list());
        $this->expectException(\InvalidArgumentException::class);
        $this->services->create('zero', 'sleep 1', 0);
    }

    public function testAnExitedServiceSaysWhy(): void
    {
        $once = \dirname($this->loop) . '/once.sh';
        file_put_contents($once, "exit 4\n");
        self::assertTrue($this->services->create('once', "sh $once"));
        $status = [];
        $this->server->waitFor(function () use (&$status): bool {
            $status = $this->services->statuses('once')[0];
            return $status['error'] !== null;
        }, 5.0, fn (): string => 'the service to exit');
        self::assertStringContainsString('exit status: 4', $status['error']['message']);
        self::assertStringContainsString('not restarted', $status['error']['message']);
        self::assertSame(0, $status['memory_usage']);
    }

    private static function alive(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        if ($stat === false) {
            return false;
        }
        return substr($stat, strrpos($stat, ')') + 2, 1) !== 'Z';
    }
}
