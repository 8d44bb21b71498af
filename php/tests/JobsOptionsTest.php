<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Jobs\BoltdbCreateInfo;
use Coyote\Jobs\MemoryCreateInfo;
use Coyote\Jobs\Options;
use Coyote\Jobs\Queue;
use Coyote\Jobs\Task;
use PHPUnit\Framework\TestCase;

/** Client-side values: Options, CreateInfo maps, Task checks, ids. */
final class JobsOptionsTest extends TestCase
{
    public function testOptionsDefaultsAndCopies(): void
    {
        $options = new Options();
        self::assertSame([0, 10, false], [$options->delay, $options->priority, $options->autoAck]);
        $changed = $options->withDelay(5)->withPriority(1)->withAutoAck(true);
        self::assertSame([5, 1, true], [$changed->delay, $changed->priority, $changed->autoAck]);
        self::assertSame([0, 10, false], [$options->delay, $options->priority, $options->autoAck]);
        self::assertFalse($changed->withAutoAck(false)->autoAck);
        self::assertSame(0, (new Options(0, 0))->priority);
    }

    /** @return iterable<string, array{callable(): mixed, string}> */
    public static function badOptions(): iterable
    {
        yield 'negative delay' => [static fn () => new Options(-1), 'delay'];
        yield 'negative priority' => [static fn () => new Options(0, -3), 'priority'];
        yield 'withDelay' => [static fn () => (new Options())->withDelay(-1), 'delay'];
        yield 'withPriority' => [static fn () => (new Options())->withPriority(-1), 'priority'];
    }

    /** @dataProvider badOptions */
    public function testNegativeOptionsAreRefused(callable $make, string $needle): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage($needle);
        $make();
    }

    public function testMemoryCreateInfoMap(): void
    {
        self::assertSame(
            ['driver' => 'memory', 'name' => 'q', 'priority' => '10', 'prefetch' => '100000'],
            (new MemoryCreateInfo('q'))->toMap(),
        );
        $info = new MemoryCreateInfo('other', 3, 7);
        self::assertSame('other', $info->getName());
        self::assertSame(
            ['driver' => 'memory', 'name' => 'other', 'priority' => '3', 'prefetch' => '7'],
            $info->toMap(),
        );
    }

    public function testBoltdbCreateInfoMap(): void
    {
        self::assertSame(
            ['driver' => 'boltdb', 'name' => 'd', 'priority' => '10', 'prefetch' => '10000', 'file' => 'rr.db'],
            (new BoltdbCreateInfo('d'))->toMap(),
        );
        self::assertSame(
            ['driver' => 'boltdb', 'name' => 'd', 'priority' => '2', 'prefetch' => '5', 'file' => '/tmp/x.db'],
            (new BoltdbCreateInfo('d', '/tmp/x.db', 2, 5))->toMap(),
        );
    }

    /** @return iterable<string, array{callable(): mixed}> */
    public static function badCreateInfo(): iterable
    {
        yield 'memory, empty name' => [static fn () => new MemoryCreateInfo('')];
        yield 'memory, negative priority' => [static fn () => new MemoryCreateInfo('q', -1)];
        yield 'memory, prefetch 0' => [static fn () => new MemoryCreateInfo('q', 1, 0)];
        yield 'boltdb, empty file' => [static fn () => new BoltdbCreateInfo('q', '')];
        yield 'boltdb, prefetch 0' => [static fn () => new BoltdbCreateInfo('q', 'f', 1, 0)];
    }

    /** @dataProvider badCreateInfo */
    public function testBadCreateInfoIsRefused(callable $make): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $make();
    }

    public function testTaskChecksAndHeaders(): void
    {
        $task = new Task('n', 'p', ['a' => 'x', 'b' => ['1', '2']]);
        self::assertSame(['a' => ['x'], 'b' => ['1', '2']], $task->getHeaders());
        self::assertSame('1,2', $task->withAddedHeader('c', '3')->withAddedHeader('c', ['4'])->getHeaderLine('b'));
        self::assertSame(['3', '4'], $task->withAddedHeader('c', '3')->withAddedHeader('c', ['4'])->getHeader('c'));
        self::assertSame(['a' => ['x']], $task->withoutHeader('b')->getHeaders());
        self::assertSame(10, $task->getOptions()->priority);
        self::assertSame(3, $task->withOptions(new Options(3))->getOptions()->delay);
        self::assertSame(0, $task->getOptions()->delay);
    }

    /** @return iterable<string, array{callable(): mixed, string}> */
    public static function badTasks(): iterable
    {
        yield 'empty name' => [static fn () => new Task('', 'p'), 'name'];
        yield 'binary payload' => [static fn () => new Task('n', "\xff\xfe"), 'UTF-8'];
        yield 'header value a number' => [static fn () => new Task('n', 'p', ['a' => 1]), '"a"'];
        yield 'header list of numbers' => [static fn () => new Task('n', 'p', ['a' => [1]]), '"a"'];
        yield 'empty header name' => [static fn () => new Task('n', 'p', ['' => 'x']), 'name'];
    }

    /** @dataProvider badTasks */
    public function testBadTasksAreRefused(callable $make, string $needle): void
    {
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage($needle);
        $make();
    }

    public function testIdsAreRandomUuidV4(): void
    {
        $ids = [];
        for ($i = 0; $i < 1000; $i++) {
            $id = Queue::newId();
            self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $id);
            $ids[$id] = true;
        }
        self::assertCount(1000, $ids);
    }
}
