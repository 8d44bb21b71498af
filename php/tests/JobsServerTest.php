<?php

declare(strict_types=1);

namespace Coyote\Tests;

require_once __DIR__ . '/Support/Yaml.php';
require_once __DIR__ . '/Support/Server.php';

use Coyote\Jobs\BoltdbCreateInfo;
use Coyote\Jobs\Jobs;
use Coyote\Jobs\JobsException;
use Coyote\Jobs\MemoryCreateInfo;
use Coyote\Jobs\Options;
use Coyote\Jobs\Queue;
use Coyote\RPC\ServiceException;
use Coyote\Tests\Support\Server;
use PHPUnit\Framework\TestCase;

/**
 * The SDK against the real server: a coyote binary consuming pipeline p1
 * (memory, 2 workers of workers/jobs-consumer.php, 4 pollers). Workers log
 * every task they get to JOBS_LOG; the tests wait on that file (and on
 * jobs.Stat) with deadlines.
 */
final class JobsServerTest extends TestCase
{
    private Server $server;
    private Jobs $jobs;
    private Queue $p1;

    protected function setUp(): void
    {
        $this->server = Server::start();
        $this->jobs = $this->server->jobs();
        $this->p1 = $this->jobs->connect('p1');
    }

    protected function tearDown(): void
    {
        if (isset($this->server)) {
            $this->server->stop();
        }
    }

    /** @return callable(array<string, mixed>): bool */
    private static function id(string $id): callable
    {
        return static fn (array $line): bool => $line['id'] === $id;
    }

    /** Waits until `$pipeline` has nothing queued, delayed or with a worker. */
    private function waitIdle(string $pipeline = 'p1'): void
    {
        $stat = null;
        $this->server->waitFor(function () use ($pipeline, &$stat): bool {
            $stat = $this->jobs->stats()[$pipeline] ?? null;
            return $stat !== null && $stat->active === 0 && $stat->delayed === 0 && $stat->reserved === 0;
        }, 15.0, fn (): string => "$pipeline idle (stat: " . json_encode($stat) . ')');
    }

    public function testPushedTaskIsConsumed(): void
    {
        $queued = $this->p1->push($this->p1->create('ack', 'hello', ['k' => ['v1', 'v2']]));
        self::assertMatchesRegularExpression('/^[0-9a-f-]{36}$/', $queued->getId());
        [$line] = $this->server->waitForLines(1, self::id($queued->getId()));
        self::assertSame('ack', $line['name']);
        self::assertSame('hello', $line['payload']);
        self::assertSame('p1', $line['pipeline']);
        self::assertSame('p1', $line['queue']);
        self::assertSame('memory', $line['driver']);
        self::assertSame(['k' => ['v1', 'v2']], $line['headers']);
        self::assertSame(1, $line['attempt']);
        $this->waitIdle();
        self::assertCount(1, $this->server->lines());
    }

    public function testPushBatchOfAHundredIsConsumedExactlyOnce(): void
    {
        $tasks = [];
        for ($i = 0; $i < 100; $i++) {
            $tasks[] = $this->p1->create('ack', "n$i");
        }
        $ids = array_map(static fn ($q) => $q->getId(), $this->p1->pushBatch($tasks));
        self::assertCount(100, array_unique($ids));
        $wanted = array_flip($ids);
        $this->server->waitForLines(100, static fn (array $line): bool => isset($wanted[$line['id']]));
        $this->waitIdle();
        $lines = $this->server->lines();
        self::assertCount(100, $lines, 'each task once, no redelivery');
        self::assertEqualsCanonicalizing($ids, array_column($lines, 'id'));
        self::assertEqualsCanonicalizing(array_map(static fn ($i) => "n$i", range(0, 99)), array_column($lines, 'payload'));
    }

    public function testLowerPriorityNumbersRunFirst(): void
    {
        $this->p1->pause();
        self::assertTrue($this->p1->isPaused());
        for ($i = 0; $i < 10; $i++) {
            $this->p1->push('ack', "low-$i", new Options(0, 100));
        }
        for ($i = 0; $i < 10; $i++) {
            $this->p1->push('ack', "high-$i", new Options(0, 1));
        }
        self::assertSame(20, $this->p1->getPipelineStat()->active);
        self::assertSame([], $this->server->lines(), 'a paused pipeline hands out nothing');
        $this->p1->resume();
        $order = array_column($this->server->waitForLines(20), 'payload');
        // Pushed low first. At most num_pollers (4) tasks are in flight, so
        // the log's order may differ from the queue's only that much: the
        // first and last five must still be all high and all low.
        $kind = static fn (string $p): string => explode('-', $p)[0];
        self::assertSame(array_fill(0, 5, 'high'), array_map($kind, \array_slice($order, 0, 5)), implode(' ', $order));
        self::assertSame(array_fill(0, 5, 'low'), array_map($kind, \array_slice($order, -5)), implode(' ', $order));
    }

    public function testDelayedTaskWaits(): void
    {
        $start = microtime(true);
        $late = $this->p1->push('ack', 'late', new Options(2));
        $stat = $this->p1->getPipelineStat();
        self::assertSame(1, $stat->delayed);
        $now = $this->p1->push('ack', 'now');
        $this->server->waitForLines(1, self::id($now->getId()));
        [$line] = $this->server->waitForLines(1, self::id($late->getId()));
        self::assertGreaterThanOrEqual(2.0, $line['time'] - $start, 'consumed before its delay');
        self::assertSame('now', $this->server->lines()[0]['payload']);
    }

    public function testRequeueKeepsTheIdAndCarriesTheNewHeader(): void
    {
        $queued = $this->p1->push($this->p1->create('requeue', 'r', ['times' => '1', 'keep' => 'yes']));
        $lines = $this->server->waitForLines(2, self::id($queued->getId()));
        self::assertSame(['requeue', 'ack'], array_column($lines, 'action'));
        self::assertSame([1, 2], array_column($lines, 'attempt'));
        self::assertArrayNotHasKey('attempts', $lines[0]['headers']);
        self::assertSame(['1'], $lines[1]['headers']['attempts'], 'the header set before requeue');
        self::assertSame(['yes'], $lines[1]['headers']['keep']);
        self::assertSame('r', $lines[1]['payload']);
        self::assertSame('requeue', $lines[1]['name']);
        $this->waitIdle();
        self::assertCount(2, $this->server->lines());
    }

    public function testRequeueWithDelayWaits(): void
    {
        $queued = $this->p1->push($this->p1->create('requeue', 'r', ['delay' => '1']));
        $lines = $this->server->waitForLines(2, self::id($queued->getId()));
        self::assertGreaterThanOrEqual(1.0, $lines[1]['time'] - $lines[0]['time']);
    }

    public function testNackWithoutRedeliveryIsNotSeenAgain(): void
    {
        $queued = $this->p1->push('nack', 'n');
        $this->server->waitForLines(1, self::id($queued->getId()));
        $this->waitIdle();
        $marker = $this->p1->push('ack', 'marker');
        $this->server->waitForLines(1, self::id($marker->getId()));
        self::assertCount(1, array_filter($this->server->lines(), self::id($queued->getId())));
    }

    public function testNackWithRedeliveryComesBack(): void
    {
        $queued = $this->p1->push($this->p1->create('nack-redeliver', 'n', ['times' => '2']));
        $lines = $this->server->waitForLines(3, self::id($queued->getId()));
        self::assertSame(['nack-redeliver', 'nack-redeliver', 'ack'], array_column($lines, 'action'));
        $this->waitIdle();
        self::assertCount(3, $this->server->lines());
    }

    public function testFailRequeuesOnlyWhenAsked(): void
    {
        $dropped = $this->p1->push('fail', 'f');
        $again = $this->p1->push('fail-requeue', 'f');
        $lines = $this->server->waitForLines(2, self::id($again->getId()));
        self::assertSame(['1'], $lines[1]['headers']['attempts']);
        $this->waitIdle();
        self::assertCount(1, array_filter($this->server->lines(), self::id($dropped->getId())));
        self::assertCount(2, array_filter($this->server->lines(), self::id($again->getId())));
    }

    public function testWorkerErrorIsANack(): void
    {
        $queued = $this->p1->push('error', 'e');
        $this->server->waitForLines(1, self::id($queued->getId()));
        $this->waitIdle();
        $marker = $this->p1->push('ack', 'marker');
        $this->server->waitForLines(1, self::id($marker->getId()));
        self::assertCount(1, array_filter($this->server->lines(), self::id($queued->getId())));
    }

    public function testCrashAndGarbageDoNotStopConsumption(): void
    {
        $crash = $this->p1->push('crash', 'c');
        $garbage = $this->p1->push('garbage', 'g');
        $this->server->waitForLines(1, self::id($crash->getId()));
        $this->server->waitForLines(1, self::id($garbage->getId()));
        $markers = [];
        for ($i = 0; $i < 4; $i++) {
            $markers[$this->p1->push('ack', "after-$i")->getId()] = true;
        }
        $this->server->waitForLines(4, static fn (array $line): bool => isset($markers[$line['id']]));
        $pids = array_unique(array_column($this->server->lines(), 'pid'));
        self::assertGreaterThanOrEqual(2, \count($pids), 'the crashed worker was replaced');
    }

    public function testPauseResumeAndList(): void
    {
        self::assertSame(['p1'], $this->jobs->list());
        self::assertFalse($this->p1->isPaused());
        self::assertTrue($this->p1->getPipelineStat()->ready);
        $this->jobs->pause('p1');
        self::assertTrue($this->p1->isPaused());
        $queued = $this->p1->push('ack', 'held');
        self::assertSame(1, $this->p1->getPipelineStat()->active);
        self::assertSame([], $this->server->lines());
        $this->jobs->resume('p1');
        self::assertFalse($this->p1->isPaused());
        $this->server->waitForLines(1, self::id($queued->getId()));
    }

    public function testDeclareAtRuntimeThenConsume(): void
    {
        $queue = $this->jobs->declare(new MemoryCreateInfo('rt1', 5, 10));
        self::assertSame('rt1', $queue->getName());
        self::assertEqualsCanonicalizing(['p1', 'rt1'], $this->jobs->list());
        $stat = $this->jobs->stats()['rt1'];
        self::assertSame('memory', $stat->driver);
        self::assertSame(5, $stat->priority);
        $queue->resume();
        self::assertFalse($queue->isPaused());
        $queued = $queue->push('ack', 'runtime');
        [$line] = $this->server->waitForLines(1, self::id($queued->getId()));
        self::assertSame('rt1', $line['pipeline']);
        self::assertSame('runtime', $line['payload']);
    }

    public function testDestroy(): void
    {
        $this->jobs->declare(new MemoryCreateInfo('rt2'));
        self::assertContains('rt2', $this->jobs->list());
        self::assertSame(['rt2'], $this->jobs->destroy('rt2'));
        self::assertNotContains('rt2', $this->jobs->list());
        self::assertArrayNotHasKey('rt2', $this->jobs->stats());
        $this->expectException(JobsException::class);
        $this->jobs->connect('rt2')->push('ack', 'x');
    }

    public function testStatFields(): void
    {
        $this->p1->pause();
        $queued = $this->p1->push('ack', 'queued');
        $this->p1->push('ack', 'later', new Options(60));
        $stat = $this->jobs->stats()['p1'];
        self::assertSame('p1', $stat->pipeline);
        self::assertSame('memory', $stat->driver);
        self::assertSame([1, 1, 0, false, 10], [$stat->active, $stat->delayed, $stat->reserved, $stat->ready, $stat->priority]);

        $this->p1->resume();
        $this->server->waitForLines(1, self::id($queued->getId()));
        $this->server->waitFor(function (): bool {
            $stat = $this->jobs->stats()['p1'];
            return $stat->active === 0 && $stat->reserved === 0;
        }, 15.0, fn (): string => 'the queued task answered');
        $slow = $this->p1->push('slow', '3000');
        $this->server->waitForLines(1, self::id($slow->getId())); // the worker sleeps 3 s from here
        $stat = $this->jobs->stats()['p1'];
        self::assertSame([0, 1, 1, true], [$stat->active, $stat->delayed, $stat->reserved, $stat->ready]);
        $this->server->waitFor(
            fn (): bool => $this->jobs->stats()['p1']->reserved === 0,
            15.0,
            fn (): string => 'the slow task answered',
        );
    }

    public function testPushToAnUnknownPipelineFails(): void
    {
        try {
            $this->jobs->connect('nope')->push('ack', 'x');
            self::fail('pushing to an unknown pipeline must raise');
        } catch (JobsException $e) {
            self::assertInstanceOf(ServiceException::class, $e->getPrevious());
            self::assertStringContainsString('jobs.Push', $e->getMessage());
        }
    }

    public function testDurableBoltdbPipeline(): void
    {
        $file = $this->server->dir . '/durable.db';
        $queue = $this->jobs->declare(new BoltdbCreateInfo('durable', $file));
        $queue->resume();
        $ids = [];
        for ($i = 0; $i < 3; $i++) {
            $ids[$queue->push('ack', "d$i", new Options())->getId()] = true;
        }
        $lines = $this->server->waitForLines(3, static fn (array $line): bool => isset($ids[$line['id']]));
        self::assertSame(['boltdb'], array_values(array_unique(array_column($lines, 'driver'))));
        self::assertSame(['durable'], array_values(array_unique(array_column($lines, 'pipeline'))));
        self::assertFileExists($file);
        self::assertSame('boltdb', $this->jobs->stats()['durable']->driver);
    }
}
