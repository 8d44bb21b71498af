<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use Coyote\Jobs\Consumer;
use Coyote\Jobs\MalformedTaskException;
use Coyote\Jobs\ReceivedTask;
use Coyote\Worker\Worker;
use PHPUnit\Framework\TestCase;

/**
 * The consumer's side of the jobs protocol without a server: this test
 * plays the server over a socket pair, sends task payloads and reads the
 * replies' bytes.
 */
final class JobsConsumerTest extends TestCase
{
    private const CONTEXT = '{"id":"id-1","job":"mail","driver":"memory","headers":{"a":["1","2"]},'
        . '"pipeline":"p1","queue":"q1"}';

    private StreamRelay $server;
    private Consumer $consumer;

    protected function setUp(): void
    {
        [$a, $b] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        $this->server = new StreamRelay($a, $a);
        $this->consumer = new Consumer(new Worker(new StreamRelay($b, $b), false));
    }

    private function task(string $context = self::CONTEXT, string $body = 'body'): ReceivedTask
    {
        $this->server->send(new Frame($context . $body, Frame::CODEC_RAW, [\strlen($context)]));
        $task = $this->consumer->waitTask();
        self::assertNotNull($task);
        return $task;
    }

    /** The one reply the consumer sent: its body (the context must be empty). */
    private function reply(): string
    {
        $frame = $this->server->receive();
        self::assertSame([0], $frame->options, 'a jobs reply has an empty context');
        self::assertFalse($frame->hasFlag(Frame::ERROR));
        self::assertFalse($this->server->hasPending(), 'exactly one frame per reply');
        return $frame->payload;
    }

    public function testContextFieldsAndBody(): void
    {
        $task = $this->task(body: "raw\x00bytes");
        self::assertSame('id-1', $task->getId());
        self::assertSame('mail', $task->getName());
        self::assertSame("raw\x00bytes", $task->getPayload());
        self::assertSame('p1', $task->getPipeline());
        self::assertSame('q1', $task->getQueue());
        self::assertSame('memory', $task->getDriver());
        self::assertSame(['a' => ['1', '2']], $task->getHeaders());
        self::assertTrue($task->hasHeader('a'));
        self::assertFalse($task->hasHeader('A'));
        self::assertSame(['1', '2'], $task->getHeader('a'));
        self::assertSame('1,2', $task->getHeaderLine('a'));
        self::assertSame('', $task->getHeaderLine('missing'));
        self::assertSame([], $task->getHeader('missing'));
        self::assertFalse($task->isCompleted());
    }

    /** @return iterable<string, array{string}> */
    public static function emptyHeaders(): iterable
    {
        yield 'object' => ['{"id":"i","job":"j","driver":"memory","headers":{},"pipeline":"p"}'];
        yield 'list' => ['{"id":"i","job":"j","driver":"memory","headers":[],"pipeline":"p"}'];
        yield 'null' => ['{"id":"i","job":"j","driver":"memory","headers":null,"pipeline":"p"}'];
        yield 'absent' => ['{"id":"i","job":"j","driver":"memory","pipeline":"p"}'];
        yield 'empty queue' => ['{"id":"i","job":"j","driver":"memory","pipeline":"p","queue":""}'];
    }

    /** @dataProvider emptyHeaders */
    public function testHeadersMayBeEmptyAndQueueFallsBackToPipeline(string $context): void
    {
        $task = $this->task($context);
        self::assertSame([], $task->getHeaders());
        self::assertSame('p', $task->getPipeline());
        self::assertSame('p', $task->getQueue());
        $task->requeue('again');
        self::assertSame('{"type":4,"data":{"message":"again","delay_seconds":0}}', $this->reply());
    }

    public function testNoDriverIsEmpty(): void
    {
        self::assertSame('', $this->task('{"id":"i","job":"j","pipeline":"p"}')->getDriver());
    }

    /** @return iterable<string, array{string, string}> */
    public static function badContexts(): iterable
    {
        yield 'not json' => ['{"id":', 'not JSON'];
        yield 'empty' => ['', 'not JSON'];
        yield 'a list' => ['[1,2]', 'not a JSON object'];
        yield 'a string' => ['"x"', 'not a JSON object'];
        yield 'no id' => ['{"job":"j","pipeline":"p"}', '"id"'];
        yield 'empty id' => ['{"id":"","job":"j","pipeline":"p"}', '"id"'];
        yield 'numeric job' => ['{"id":"i","job":5,"pipeline":"p"}', '"job"'];
        yield 'no pipeline' => ['{"id":"i","job":"j"}', '"pipeline"'];
        yield 'headers a string' => ['{"id":"i","job":"j","pipeline":"p","headers":"x"}', '"headers"'];
        yield 'headers a list' => ['{"id":"i","job":"j","pipeline":"p","headers":["x"]}', '"headers"'];
        yield 'header value a string' => ['{"id":"i","job":"j","pipeline":"p","headers":{"a":"x"}}', '"a"'];
        yield 'header value a number' => ['{"id":"i","job":"j","pipeline":"p","headers":{"a":[1]}}', '"a"'];
    }

    /** @dataProvider badContexts */
    public function testBadContextRaisesAndAnswersWithAnError(string $context, string $needle): void
    {
        $this->server->send(new Frame($context . 'body', Frame::CODEC_RAW, [\strlen($context)]));
        try {
            $this->consumer->waitTask();
            self::fail('a bad context must raise');
        } catch (MalformedTaskException $e) {
            self::assertStringContainsString($needle, $e->getMessage());
        }
        $frame = $this->server->receive();
        self::assertTrue($frame->hasFlag(Frame::ERROR), 'the server is told the task failed');
        self::assertSame($e->getMessage(), $frame->payload);
    }

    public function testAck(): void
    {
        $task = $this->task();
        $task->ack();
        self::assertSame('{"type":2,"data":[]}', $this->reply());
        self::assertTrue($task->isCompleted());
        self::assertTrue($task->isSuccessful());
        self::assertFalse($task->isFails());
    }

    public function testComplete(): void
    {
        $task = $this->task();
        $task->complete();
        self::assertSame('{"type":0,"data":[]}', $this->reply());
        self::assertTrue($task->isSuccessful());
    }

    public function testNack(): void
    {
        $task = $this->task();
        $task->nack('no');
        self::assertSame('{"type":3,"data":{"message":"no","requeue":false,"delay_seconds":0}}', $this->reply());
        self::assertTrue($task->isFails());
        self::assertFalse($task->isSuccessful());
    }

    public function testNackRedeliveryWithDelaySendsNoHeaders(): void
    {
        $task = $this->task()->withDelay(7)->withHeader('x', 'y');
        $task->nack(new \RuntimeException('boom'), true);
        $reply = json_decode($this->reply(), true);
        self::assertSame(3, $reply['type']);
        self::assertTrue($reply['data']['requeue']);
        self::assertSame(7, $reply['data']['delay_seconds']);
        self::assertStringContainsString('boom', $reply['data']['message']);
        self::assertSame(['message', 'requeue', 'delay_seconds'], array_keys($reply['data']));
    }

    public function testRequeueCarriesChangedHeadersAndDelay(): void
    {
        $task = $this->task()->withHeader('attempts', '2')->withAddedHeader('a', '3')->withDelay(3);
        $task->requeue('later');
        self::assertSame(
            '{"type":4,"data":{"message":"later","delay_seconds":3,"headers":{"a":["1","2","3"],"attempts":["2"]}}}',
            $this->reply(),
        );
        self::assertTrue($task->isFails());
    }

    public function testRequeueWithoutHeadersOmitsThem(): void
    {
        $task = $this->task()->withoutHeader('a');
        $task->requeue('m');
        self::assertSame('{"type":4,"data":{"message":"m","delay_seconds":0}}', $this->reply());
    }

    public function testNumericHeaderNamesStayAnObject(): void
    {
        $task = $this->task('{"id":"i","job":"j","pipeline":"p","headers":{"0":["zero"]}}');
        $task->requeue('m');
        self::assertSame('{"type":4,"data":{"message":"m","delay_seconds":0,"headers":{"0":["zero"]}}}', $this->reply());
    }

    public function testFailWithoutRequeue(): void
    {
        $task = $this->task('{"id":"i","job":"j","pipeline":"p"}');
        $task->fail('bad');
        self::assertSame('{"type":1,"data":{"message":"bad","requeue":false,"delay_seconds":0}}', $this->reply());
        self::assertTrue($task->isFails());
    }

    public function testFailWithRequeueHeadersAndDelay(): void
    {
        $task = $this->task()->withDelay(2);
        $task->fail('bad', true);
        self::assertSame(
            '{"type":1,"data":{"message":"bad","requeue":true,"delay_seconds":2,"headers":{"a":["1","2"]}}}',
            $this->reply(),
        );
    }

    public function testMessagesWithSlashesAndInvalidUtf8StillEncode(): void
    {
        $task = $this->task();
        $task->nack("a/b \xff");
        self::assertSame(
            '{"type":3,"data":{"message":"a/b \ufffd","requeue":false,"delay_seconds":0}}',
            $this->reply(),
        );
    }

    public function testAnswersOnceAcrossCopies(): void
    {
        $task = $this->task();
        $copy = $task->withDelay(5);
        $copy->nack('first');
        $task->ack();
        $copy->requeue('third');
        self::assertSame('{"type":3,"data":{"message":"first","requeue":false,"delay_seconds":5}}', $this->reply());
        self::assertTrue($task->isCompleted());
        self::assertTrue($task->isFails());
        self::assertFalse($task->isSuccessful());
    }

    public function testCopiesLeaveTheOriginalAlone(): void
    {
        $task = $this->task();
        $changed = $task->withHeader('a', ['9'])->withHeader('b', 'x')->withDelay(4);
        self::assertSame(['a' => ['1', '2']], $task->getHeaders());
        self::assertSame(0, $task->getDelay());
        self::assertSame(['a' => ['9'], 'b' => ['x']], $changed->getHeaders());
        self::assertSame(4, $changed->getDelay());
        self::assertSame([], $changed->withoutHeader('a')->withoutHeader('b')->getHeaders());
    }

    public function testBadDelayAndHeaders(): void
    {
        $task = $this->task();
        try {
            $task->withDelay(-1);
            self::fail('negative delay');
        } catch (\InvalidArgumentException $e) {
            self::assertStringContainsString('-1', $e->getMessage());
        }
        $this->expectException(\InvalidArgumentException::class);
        $task->withHeader('', 'x');
    }

    public function testStopEndsTheLoop(): void
    {
        $this->server->send(new Frame('{"stop":true}', Frame::CONTROL | Frame::CODEC_JSON));
        self::assertNull($this->consumer->waitTask());
    }

    public function testReplyBodyIsWhatIsSent(): void
    {
        self::assertSame('{"type":2,"data":[]}', ReceivedTask::replyBody(ReceivedTask::ACK, []));
        self::assertSame(
            [ReceivedTask::COMPLETE, ReceivedTask::FAIL, ReceivedTask::ACK, ReceivedTask::NACK, ReceivedTask::REQUEUE],
            [0, 1, 2, 3, 4],
        );
    }
}
