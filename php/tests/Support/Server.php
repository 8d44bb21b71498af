<?php

declare(strict_types=1);

namespace Coyote\Tests\Support;

use Coyote\Jobs\Jobs;
use PHPUnit\Framework\Assert;

/**
 * A real coyote server for integration tests: `coyote serve -c <yaml>
 * --report <file>` in a fresh temp dir, started by start() and stopped by
 * stop() (SIGTERM, SIGKILL past a deadline). The binary is $COYOTE_BIN or
 * <repo>/target/debug/coyote; a missing binary fails the test.
 *
 * Workers append their tasks to the JSON-lines file `$log` (JOBS_LOG);
 * waitForLines() polls it until enough lines match, with a deadline.
 */
final class Server
{
    public readonly string $dir;
    public readonly string $log;
    public readonly string $rpc;

    /** @var resource|null */
    private $process = null;
    private string $report;
    private string $output;

    private function __construct()
    {
        $this->dir = sys_get_temp_dir() . '/coyote-php-' . getmypid() . '-' . bin2hex(random_bytes(4));
        if (!mkdir($this->dir, 0700)) {
            Assert::fail("cannot create {$this->dir}");
        }
        $this->log = $this->dir . '/jobs.log';
        $this->report = $this->dir . '/report.log';
        $this->output = $this->dir . '/server.log';
    }

    public static function repo(): string
    {
        return \dirname(__DIR__, 3);
    }

    public static function binary(): string
    {
        return getenv('COYOTE_BIN') ?: self::repo() . '/target/debug/coyote';
    }

    /** The jobs config the tests share: pipeline p1 (memory) consumed by 2 workers. */
    public static function jobsConfig(string $log): array
    {
        return [
            'version' => '3',
            'rpc' => ['listen' => 'tcp://127.0.0.1:0'],
            'server' => [
                'command' => [\PHP_BINARY, self::repo() . '/php/workers/jobs-consumer.php'],
                'env' => ['JOBS_LOG' => $log],
            ],
            'jobs' => [
                'num_pollers' => 4,
                'pool' => ['num_workers' => 2],
                'consume' => ['p1'],
                'pipelines' => ['p1' => ['driver' => 'memory', 'config' => ['priority' => 10, 'prefetch' => 100]]],
            ],
        ];
    }

    /**
     * Starts the server in its temp dir (the config written there as
     * .rr.yaml) and waits (30 s at most) for `phase running` in the report.
     *
     * @param (callable(string $log): array<string, mixed>)|null $config the config for a JOBS_LOG path
     */
    public static function start(?callable $config = null): self
    {
        $binary = self::binary();
        if (!is_file($binary) || !is_executable($binary)) {
            Assert::fail("the coyote binary $binary is missing: build it (cargo build -p coyote --bin coyote) "
                . 'or point COYOTE_BIN at one');
        }
        $server = new self();
        file_put_contents($server->dir . '/.rr.yaml', Yaml::emit(($config ?? self::jobsConfig(...))($server->log)));
        $server->process = proc_open(
            [$binary, 'serve', '-c', $server->dir . '/.rr.yaml', '--report', $server->report],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', $server->output, 'w'], 2 => ['file', $server->output, 'a']],
            $pipes,
            $server->dir,
        );
        if (!\is_resource($server->process)) {
            Assert::fail("cannot start $binary");
        }
        $server->waitForReport('phase running', 30.0);
        $server->rpc = $server->listenAddress('rpc', 'rpc');
        return $server;
    }

    public function jobs(): Jobs
    {
        return Jobs::create($this->rpc);
    }

    /** The report's lines so far (`phase running`, `listen rpc rpc tcp://...`). */
    public function events(): array
    {
        return is_file($this->report) ? file($this->report, \FILE_IGNORE_NEW_LINES | \FILE_SKIP_EMPTY_LINES) : [];
    }

    /** What the server wrote to stdout and stderr. */
    public function output(): string
    {
        return is_file($this->output) ? (string) file_get_contents($this->output) : '';
    }

    /** @return list<array<string, mixed>> every JOBS_LOG line, decoded */
    public function lines(): array
    {
        if (!is_file($this->log)) {
            return [];
        }
        $file = fopen($this->log, 'r');
        flock($file, \LOCK_SH);
        $lines = [];
        while (($line = fgets($file)) !== false) {
            if (str_ends_with($line, "\n")) {
                $lines[] = json_decode($line, true, 16, \JSON_THROW_ON_ERROR);
            }
        }
        flock($file, \LOCK_UN);
        fclose($file);
        return $lines;
    }

    /**
     * Polls JOBS_LOG until `$count` lines pass `$filter` (all lines when
     * null); fails past the deadline. Returns the matching lines.
     *
     * @param (callable(array<string, mixed>): bool)|null $filter
     * @return list<array<string, mixed>>
     */
    public function waitForLines(int $count, ?callable $filter = null, float $timeout = 15.0): array
    {
        $matching = [];
        $this->waitFor(function () use ($count, $filter, &$matching): bool {
            $matching = array_values($filter === null ? $this->lines() : array_filter($this->lines(), $filter));
            return \count($matching) >= $count;
        }, $timeout, fn (): string => "$count log lines; have " . \count($matching) . ': '
            . json_encode($this->lines(), \JSON_UNESCAPED_SLASHES));
        return $matching;
    }

    /**
     * Polls `$done` every 10 ms until it returns true; fails past the
     * deadline with `$what()` and the server's output.
     *
     * @param callable(): bool $done
     * @param callable(): string $what
     */
    public function waitFor(callable $done, float $timeout, callable $what): void
    {
        $deadline = microtime(true) + $timeout;
        while (!$done()) {
            if (microtime(true) > $deadline) {
                Assert::fail("timed out after {$timeout}s waiting for " . $what() . "\nserver output:\n" . $this->tail());
            }
            usleep(10_000);
        }
    }

    /** Stops the server: SIGTERM, then SIGKILL when it is still running after `$grace` seconds. */
    public function stop(float $grace = 10.0): void
    {
        if (\is_resource($this->process)) {
            proc_terminate($this->process, \SIGTERM);
            $deadline = microtime(true) + $grace;
            while (proc_get_status($this->process)['running'] && microtime(true) < $deadline) {
                usleep(10_000);
            }
            if (proc_get_status($this->process)['running']) {
                proc_terminate($this->process, \SIGKILL);
            }
            proc_close($this->process);
            $this->process = null;
        }
        self::remove($this->dir);
    }

    private function waitForReport(string $line, float $timeout): void
    {
        $this->waitFor(function () use ($line): bool {
            if (\in_array($line, $this->events(), true)) {
                return true;
            }
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                Assert::fail("coyote exited with code {$status['exitcode']} before \"$line\":\n" . $this->tail());
            }
            return false;
        }, $timeout, fn (): string => "\"$line\" in the report (have: " . implode(' | ', $this->events()) . ')');
    }

    private function listenAddress(string $plugin, string $what): string
    {
        $prefix = "listen $plugin $what ";
        foreach ($this->events() as $event) {
            if (str_starts_with($event, $prefix)) {
                return substr($event, \strlen($prefix));
            }
        }
        Assert::fail("no \"$prefix\" line in the report: " . implode(' | ', $this->events()));
    }

    private function tail(): string
    {
        $output = $this->output();
        return \strlen($output) > 8000 ? '...' . substr($output, -8000) : $output;
    }

    private static function remove(string $path): void
    {
        if (is_dir($path) && !is_link($path)) {
            foreach (scandir($path) as $entry) {
                if ($entry !== '.' && $entry !== '..') {
                    self::remove("$path/$entry");
                }
            }
            rmdir($path);
        } elseif (file_exists($path) || is_link($path)) {
            unlink($path);
        }
    }
}
