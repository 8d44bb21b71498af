<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use PHPUnit\Framework\TestCase;

/**
 * Runs the test workers in php/workers over real pipes, as the server
 * does, to pin the behaviour the Rust tests rely on.
 */
final class TestWorkersTest extends TestCase
{
    /** @var resource|null */
    private $process = null;
    private ?StreamRelay $relay = null;
    private int $pid = 0;

    protected function tearDown(): void
    {
        if (\is_resource($this->process)) {
            proc_terminate($this->process, 9);
            proc_close($this->process);
        }
    }

    private function start(string $name, array $env = [], string $stderr = '/dev/null'): void
    {
        $this->process = proc_open(
            [\PHP_BINARY, __DIR__ . "/../workers/$name.php"],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $stderr, 'w']],
            $pipes,
            null,
            $env + ['RR_RELAY' => 'pipes', 'RR_MODE' => 'test'] + getenv(),
        );
        self::assertIsResource($this->process);
        $this->relay = new StreamRelay($pipes[1], $pipes[0]);
        $this->relay->send(new Frame('{"pid":' . getmypid() . '}', Frame::CONTROL | Frame::CODEC_JSON));
        $hello = $this->relay->receive();
        self::assertSame(Frame::CONTROL, $hello->flags);
        $this->pid = json_decode($hello->payload, true)['pid'];
        self::assertSame(proc_get_status($this->process)['pid'], $this->pid);
    }

    private function exec(string $body, string $header = '{}'): Frame
    {
        $this->relay->send(new Frame($header . $body, Frame::CODEC_RAW, [\strlen($header)]));
        return $this->relay->receive();
    }

    public function testEcho(): void
    {
        $this->start('echo');
        $answer = $this->exec('hello', '{"a":1}');
        self::assertSame([7], $answer->options);
        self::assertSame('{"a":1}hello', $answer->payload);
    }

    public function testError(): void
    {
        $this->start('error');
        $answer = $this->exec('x');
        self::assertTrue($answer->hasFlag(Frame::ERROR));
        self::assertSame('boom: x', $answer->payload);
    }

    public function testSlowAndPid(): void
    {
        $this->start('slow');
        self::assertSame('slept 20', substr($this->exec('20')->payload, 0));
        $this->tearDown();
        $this->start('pid');
        self::assertSame('{}' . $this->pid, $this->exec('x')->payload);
    }

    public function testStreamParts(): void
    {
        $this->start('stream');
        $parts = [];
        $frame = $this->exec('3', '{"h":1}');
        self::assertSame('{"h":1}', substr($frame->payload, 0, $frame->options[0]));
        while (true) {
            $parts[] = substr($frame->payload, $frame->options[0]);
            if (!$frame->hasStreamFlag(Frame::STREAM)) {
                break;
            }
            $frame = $this->relay->receive();
        }
        self::assertSame(["chunk-0\n", "chunk-1\n", "chunk-2\n", ''], $parts);
    }

    public function testEnvStopAndCrash(): void
    {
        $this->start('env', ['COYOTE_TEST' => 'on']);
        $env = json_decode($this->exec('x')->payload, true);
        self::assertSame('test', $env['RR_MODE']);
        self::assertSame('on', $env['COYOTE_TEST']);
        $this->tearDown();

        $this->start('stop');
        $stop = $this->exec('stop');
        self::assertSame('{"stop":true}', $stop->payload);
        $this->tearDown();

        $this->start('crash');
        $this->relay->send(new Frame('{}crash', Frame::CODEC_RAW, [2]));
        $this->expectException(\Coyote\Goridge\FrameException::class);
        $this->relay->receive();
    }

    public function testStopControlFrameEndsTheWorker(): void
    {
        $this->start('echo');
        $this->relay->send(new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        $deadline = microtime(true) + 5;
        while (proc_get_status($this->process)['running'] && microtime(true) < $deadline) {
            usleep(10_000);
        }
        self::assertFalse(proc_get_status($this->process)['running']);
    }

    public function testHostileBadCrc(): void
    {
        $this->start('hostile');
        $this->relay->send(new Frame('{}badcrc', Frame::CODEC_RAW, [2]));
        $this->expectExceptionMessage('CRC');
        $this->relay->receive();
    }

    public function testEchoInUserCodeGoesToStderrNotTheRelay(): void
    {
        $log = tempnam(sys_get_temp_dir(), 'stderr');
        $this->start('noisy', [], $log);
        $answer = $this->exec('x');
        self::assertSame('{}x', $answer->payload, 'the relay carries only the frame');
        $this->tearDown();
        self::assertStringContainsString('noise from user code', (string) file_get_contents($log));
        unlink($log);
    }
}
