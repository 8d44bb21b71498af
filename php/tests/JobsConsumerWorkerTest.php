<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use PHPUnit\Framework\TestCase;

/**
 * Runs workers/jobs-consumer.php over real pipes, playing the server, to
 * pin the conventions the server tests rely on: each job name's reply and
 * the JOBS_LOG line.
 */
final class JobsConsumerWorkerTest extends TestCase
{
    /** @var resource|null */
    private $process = null;
    private StreamRelay $relay;
    private string $log;

    protected function setUp(): void
    {
        $this->log = tempnam(sys_get_temp_dir(), 'jobs-log-');
        unlink($this->log); // the worker creates it
        $this->process = proc_open(
            [\PHP_BINARY, __DIR__ . '/../workers/jobs-consumer.php'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes,
            null,
            ['RR_RELAY' => 'pipes', 'RR_MODE' => 'jobs', 'JOBS_LOG' => $this->log] + getenv(),
        );
        self::assertIsResource($this->process);
        $this->relay = new StreamRelay($pipes[1], $pipes[0]);
        $this->relay->send(new Frame('{"pid":' . getmypid() . '}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertSame(Frame::CONTROL, $this->relay->receive()->flags);
    }

    protected function tearDown(): void
    {
        if (\is_resource($this->process)) {
            proc_terminate($this->process, 9);
            proc_close($this->process);
        }
        @unlink($this->log);
    }

    /** @param array<string, list<string>> $headers */
    private function send(string $name, string $payload = '', array $headers = [], string $id = 'id-1'): Frame
    {
        $context = json_encode([
            'id' => $id, 'job' => $name, 'driver' => 'memory', 'headers' => (object) $headers,
            'pipeline' => 'p1', 'queue' => 'p1',
        ]);
        $this->relay->send(new Frame($context . $payload, Frame::CODEC_RAW, [\strlen($context)]));
        return $this->relay->receive();
    }

    /** @return array{type: int, data: array<string, mixed>} */
    private function reply(Frame $frame): array
    {
        self::assertFalse($frame->hasFlag(Frame::ERROR), $frame->payload);
        self::assertSame([0], $frame->options);
        return json_decode($frame->payload, true, 8, \JSON_THROW_ON_ERROR);
    }

    /** @return list<array<string, mixed>> */
    private function lines(): array
    {
        $lines = [];
        foreach (file($this->log, \FILE_IGNORE_NEW_LINES) as $line) {
            $lines[] = json_decode($line, true, 8, \JSON_THROW_ON_ERROR);
        }
        return $lines;
    }

    public function testAckAndTheLogLine(): void
    {
        self::assertSame(['type' => 2, 'data' => []], $this->reply($this->send('ack', 'hello', ['k' => ['v']])));
        self::assertSame(['type' => 2, 'data' => []], $this->reply($this->send('anything', 'x', [], 'id-2')));
        $lines = $this->lines();
        self::assertCount(2, $lines);
        $pid = proc_get_status($this->process)['pid'];
        self::assertSame(
            ['id' => 'id-1', 'name' => 'ack', 'pipeline' => 'p1', 'queue' => 'p1', 'driver' => 'memory',
                'payload' => 'hello', 'headers' => ['k' => ['v']], 'pid' => $pid, 'attempt' => 1, 'action' => 'ack'],
            array_diff_key($lines[0], ['time' => 0]),
        );
        self::assertIsFloat($lines[0]['time']);
        self::assertSame('ack', $lines[1]['action']);
    }

    public function testTerminalReplies(): void
    {
        self::assertSame(['type' => 0, 'data' => []], $this->reply($this->send('complete')));
        self::assertSame(
            ['type' => 3, 'data' => ['message' => 'nack', 'requeue' => false, 'delay_seconds' => 0]],
            $this->reply($this->send('nack', '', [], 'id-2')),
        );
        self::assertSame(
            ['type' => 1, 'data' => ['message' => 'fail', 'requeue' => false, 'delay_seconds' => 4, 'headers' => ['delay' => ['4']]]],
            $this->reply($this->send('fail', '', ['delay' => ['4']], 'id-3')),
        );
        self::assertSame(['complete', 'nack', 'fail'], array_column($this->lines(), 'action'));
    }

    public function testRequeueCountsAttemptsInAHeader(): void
    {
        $first = $this->reply($this->send('requeue', 'p', ['times' => ['2'], 'delay' => ['1']]));
        self::assertSame(4, $first['type']);
        self::assertSame(['message' => 'requeue', 'delay_seconds' => 1,
            'headers' => ['times' => ['2'], 'delay' => ['1'], 'attempts' => ['1']]], $first['data']);
        $second = $this->reply($this->send('requeue', 'p', $first['data']['headers']));
        self::assertSame(['2'], $second['data']['headers']['attempts']);
        self::assertSame(['type' => 2, 'data' => []], $this->reply($this->send('requeue', 'p', $second['data']['headers'])));
        self::assertSame([1, 2, 3], array_column($this->lines(), 'attempt'));
        self::assertSame(['requeue', 'requeue', 'ack'], array_column($this->lines(), 'action'));
        self::assertSame(['1'], $this->lines()[1]['headers']['attempts'], 'logged as received');
    }

    public function testRedeliveringRepliesThenAck(): void
    {
        $nack = $this->reply($this->send('nack-redeliver'));
        self::assertSame(['type' => 3, 'data' => ['message' => 'nack', 'requeue' => true, 'delay_seconds' => 0]], $nack);
        self::assertSame(2, $this->reply($this->send('nack-redeliver'))['type']);

        $fail = $this->reply($this->send('fail-requeue', '', [], 'id-2'));
        self::assertSame(1, $fail['type']);
        self::assertTrue($fail['data']['requeue']);
        self::assertSame(['attempts' => ['1']], $fail['data']['headers']);
        self::assertSame(2, $this->reply($this->send('fail-requeue', '', [], 'id-2'))['type']);
    }

    public function testErrorGarbageAndSlow(): void
    {
        $error = $this->send('error');
        self::assertTrue($error->hasFlag(Frame::ERROR));
        self::assertSame('error requested', $error->payload);

        $garbage = $this->send('garbage', '', [], 'id-2');
        self::assertFalse($garbage->hasFlag(Frame::ERROR));
        self::assertNull(json_decode($garbage->payload));

        $start = hrtime(true);
        self::assertSame(2, $this->reply($this->send('slow', '80', [], 'id-3'))['type']);
        self::assertGreaterThanOrEqual(80, (hrtime(true) - $start) / 1e6);
        self::assertSame(['error', 'garbage', 'slow'], array_column($this->lines(), 'action'));
    }

    public function testBadContextIsAnsweredWithAnErrorAndTheWorkerGoesOn(): void
    {
        $this->relay->send(new Frame('{nope' . 'body', Frame::CODEC_RAW, [5]));
        $error = $this->relay->receive();
        self::assertTrue($error->hasFlag(Frame::ERROR));
        self::assertStringContainsString('not JSON', $error->payload);
        self::assertSame(2, $this->reply($this->send('ack'))['type']);
    }

    public function testCrashExitsMidTask(): void
    {
        $context = '{"id":"c","job":"crash","pipeline":"p1"}';
        $this->relay->send(new Frame($context, Frame::CODEC_RAW, [\strlen($context)]));
        $deadline = microtime(true) + 10;
        while (($status = proc_get_status($this->process))['running'] && microtime(true) < $deadline) {
            usleep(10_000); // polling the process state, not a fixed wait
        }
        self::assertFalse($status['running'], 'the worker exits');
        self::assertSame(1, $status['exitcode']);
        self::assertSame(['crash'], array_column($this->lines(), 'action'));
    }
}
