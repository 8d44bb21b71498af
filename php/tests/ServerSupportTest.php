<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/Yaml.php';
require_once __DIR__ . '/Support/Server.php';

use Coyote\Tests\Support\Server;
use Coyote\Tests\Support\Yaml;
use PHPUnit\Framework\AssertionFailedError;
use PHPUnit\Framework\TestCase;

/** The integration tests' helpers: a missing binary fails (never skips); the YAML they write. */
final class ServerSupportTest extends TestCase
{
    public function testMissingBinaryFailsWithItsPath(): void
    {
        $before = getenv('COYOTE_BIN');
        putenv('COYOTE_BIN=/nonexistent/coyote');
        try {
            Server::start();
            self::fail('no binary, no server');
        } catch (AssertionFailedError $e) {
            self::assertStringContainsString('/nonexistent/coyote is missing', $e->getMessage());
        } finally {
            putenv($before === false ? 'COYOTE_BIN' : "COYOTE_BIN=$before");
        }
    }

    public function testYaml(): void
    {
        self::assertSame(
            "version: \"3\"\na:\n  n: 4\n  t: true\n  list:\n    - \"p1\"\n    -\n      k: \"x \\\"y\\\"\"\n  empty: {}\n",
            Yaml::emit(['version' => '3', 'a' => ['n' => 4, 't' => true, 'list' => ['p1', ['k' => 'x "y"']], 'empty' => []]]),
        );
    }

    public function testJobsConfig(): void
    {
        $config = Server::jobsConfig('/tmp/log');
        self::assertSame('tcp://127.0.0.1:0', $config['rpc']['listen']);
        self::assertSame(['JOBS_LOG' => '/tmp/log'], $config['server']['env']);
        self::assertFileExists($config['server']['command'][1]);
        self::assertSame(['p1'], $config['jobs']['consume']);
    }
}
