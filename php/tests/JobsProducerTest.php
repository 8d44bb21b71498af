<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Goridge\Frame;
use Coyote\Goridge\StreamRelay;
use Coyote\Jobs\Jobs;
use Coyote\Jobs\JobsException;
use Coyote\Jobs\MemoryCreateInfo;
use Coyote\Jobs\Options;
use Coyote\Jobs\Task;
use Coyote\Proto\Jobs\DeclareRequest;
use Coyote\Proto\Jobs\Pipelines;
use Coyote\Proto\Jobs\PushBatchRequest;
use Coyote\Proto\Jobs\PushRequest;
use Coyote\Proto\Jobs\Stat;
use Coyote\Proto\Jobs\Stats;
use Coyote\RPC\RPC;
use Coyote\RPC\ServiceException;
use Google\Protobuf\Internal\Message;
use PHPUnit\Framework\TestCase;

/**
 * The producer's requests, byte for byte, without a server: this test
 * plays the RPC server over a socket pair. The answer is queued on the
 * socket before the call (the client's seq is read from RPC), then the
 * request the client wrote is read back and decoded.
 */
final class JobsProducerTest extends TestCase
{
    private StreamRelay $server;
    private Jobs $jobs;

    protected function setUp(): void
    {
        [$a, $b] = stream_socket_pair(\STREAM_PF_UNIX, \STREAM_SOCK_STREAM, \STREAM_IPPROTO_IP);
        $this->server = new StreamRelay($a, $a);
        $this->jobs = new Jobs(new RPC(new StreamRelay($b, $b)));
    }

    private function answer(string $method, string $result = '', bool $error = false): void
    {
        $seq = (new \ReflectionProperty(RPC::class, 'seq'))->getValue();
        $flags = Frame::CODEC_PROTO | ($error ? Frame::ERROR : 0);
        $this->server->send(new Frame($method . $result, $flags, [$seq, \strlen($method)]));
    }

    /**
     * The request the client sent: checks method and codec, returns the body decoded into `$into`.
     *
     * @template T of Message
     * @param T $into
     * @return T
     */
    private function request(string $method, Message $into): Message
    {
        $frame = $this->server->receive();
        self::assertTrue($frame->hasFlag(Frame::CODEC_PROTO), 'jobs calls are protobuf');
        self::assertSame(\strlen($method), $frame->options[1]);
        self::assertSame($method, substr($frame->payload, 0, $frame->options[1]));
        $into->mergeFromString(substr($frame->payload, $frame->options[1]));
        return $into;
    }

    public function testPushRequestWireBytes(): void
    {
        $queue = $this->jobs->connect('q');
        $job = $queue->message('i', new Task('a', 'p', ['h' => 'v'], new Options(2, 1, true)));
        // Job: job(1)="a", id(2)="i", payload(3)="p", headers(4){"h": {value(1)=["v"]}},
        // options(5){priority(1)=1, pipeline(2)="q", delay(3)=2, auto_ack(6)=true}
        $expected = '0a1e' . '0a0161' . '120169' . '1a0170' . '2208' . '0a0168' . '12030a0176'
            . '2a09' . '0801' . '120171' . '1802' . '3001';
        $bytes = (new PushRequest(['job' => $job]))->serializeToString();
        self::assertSame($expected, bin2hex($bytes));

        $back = new PushRequest();
        $back->mergeFromString($bytes);
        self::assertSame('a', $back->getJob()->getJob());
        self::assertSame(['v'], iterator_to_array($back->getJob()->getHeaders()['h']->getValue()));
        self::assertSame('q', $back->getJob()->getOptions()->getPipeline());
        self::assertTrue($back->getJob()->getOptions()->getAutoAck());
    }

    public function testPushSendsAJobWithAFreshId(): void
    {
        $queue = $this->jobs->connect('p1');
        $this->answer('jobs.Push');
        $queued = $queue->push('mail', '{"to":"x"}', new Options(3, 4));
        $job = $this->request('jobs.Push', new PushRequest())->getJob();
        self::assertSame($queued->getId(), $job->getId());
        self::assertNotSame('', $job->getId());
        self::assertSame('mail', $job->getJob());
        self::assertSame('{"to":"x"}', $job->getPayload());
        self::assertSame('p1', $job->getOptions()->getPipeline());
        self::assertSame(3, (int) $job->getOptions()->getDelay());
        self::assertSame(4, (int) $job->getOptions()->getPriority());
        self::assertSame('p1', $queued->getPipeline());
        self::assertSame('mail', $queued->getName());

        $this->answer('jobs.Push');
        $again = $queue->push($queue->create('mail', 'x', ['k' => ['a', 'b']]));
        $job = $this->request('jobs.Push', new PushRequest())->getJob();
        self::assertNotSame($queued->getId(), $again->getId());
        self::assertSame(['a', 'b'], iterator_to_array($job->getHeaders()['k']->getValue()));
        self::assertSame(10, (int) $job->getOptions()->getPriority(), 'the queue defaults apply');
        self::assertSame(['k' => ['a', 'b']], $again->getHeaders());
    }

    public function testPushBatchKeepsOrderAndIds(): void
    {
        $queue = $this->jobs->connect('p1', new Options(0, 5));
        $this->answer('jobs.PushBatch');
        $queued = $queue->pushBatch([$queue->create('a', '1'), $queue->create('b', '2', [], new Options(1))]);
        $jobs = iterator_to_array($this->request('jobs.PushBatch', new PushBatchRequest())->getJobs());
        self::assertCount(2, $jobs);
        self::assertSame(['a', 'b'], [$jobs[0]->getJob(), $jobs[1]->getJob()]);
        self::assertSame([$queued[0]->getId(), $queued[1]->getId()], [$jobs[0]->getId(), $jobs[1]->getId()]);
        self::assertSame([5, 10], [(int) $jobs[0]->getOptions()->getPriority(), (int) $jobs[1]->getOptions()->getPriority()]);
        self::assertSame(1, (int) $jobs[1]->getOptions()->getDelay());
    }

    public function testPauseResumeListDestroy(): void
    {
        $this->answer('jobs.Pause');
        $this->jobs->pause('a', 'b');
        self::assertSame(['a', 'b'], iterator_to_array($this->request('jobs.Pause', new Pipelines())->getPipelines()));

        $this->answer('jobs.Resume');
        $this->jobs->connect('c')->resume();
        self::assertSame(['c'], iterator_to_array($this->request('jobs.Resume', new Pipelines())->getPipelines()));

        $this->answer('jobs.List', (new Pipelines(['pipelines' => ['x', 'y']]))->serializeToString());
        self::assertSame(['x', 'y'], $this->jobs->list());
        self::assertSame('', $this->request('jobs.List', new Pipelines())->serializeToString());

        $this->answer('jobs.Destroy', (new Pipelines(['pipelines' => ['x']]))->serializeToString());
        self::assertSame(['x'], $this->jobs->destroy('x', 'nope'));
        self::assertSame(['x', 'nope'], iterator_to_array($this->request('jobs.Destroy', new Pipelines())->getPipelines()));
    }

    public function testDeclareSendsTheStringMap(): void
    {
        $this->answer('jobs.Declare');
        $queue = $this->jobs->declare(new MemoryCreateInfo('rt', 2, 50));
        self::assertSame('rt', $queue->getName());
        $map = iterator_to_array($this->request('jobs.Declare', new DeclareRequest())->getPipeline());
        ksort($map);
        self::assertSame(['driver' => 'memory', 'name' => 'rt', 'prefetch' => '50', 'priority' => '2'], $map);
    }

    public function testStatsByPipelineAndPaused(): void
    {
        $stats = (new Stats(['stats' => [
            new Stat(['pipeline' => 'p1', 'driver' => 'memory', 'queue' => 'p1', 'active' => 3, 'delayed' => 2,
                'reserved' => 1, 'ready' => false, 'priority' => 10]),
            new Stat(['pipeline' => 'p2', 'driver' => 'boltdb', 'ready' => true]),
        ]]))->serializeToString();
        $this->answer('jobs.Stat', $stats);
        $all = $this->jobs->stats();
        self::assertSame(['p1', 'p2'], array_keys($all));
        $p1 = $all['p1'];
        self::assertSame(['p1', 'memory', 'p1', 3, 2, 1, false, 10],
            [$p1->pipeline, $p1->driver, $p1->queue, $p1->active, $p1->delayed, $p1->reserved, $p1->ready, $p1->priority]);
        self::assertSame('', $this->request('jobs.Stat', new Stats())->serializeToString());

        $this->answer('jobs.Stat', $stats);
        self::assertTrue($this->jobs->connect('p1')->isPaused());
        $this->answer('jobs.Stat', $stats);
        self::assertFalse($this->jobs->connect('p2')->isPaused());
        $this->answer('jobs.Stat', $stats);
        self::assertNull($this->jobs->connect('p3')->getPipelineStat());
    }

    public function testServerErrorsBecomeJobsException(): void
    {
        $this->answer('jobs.Push', 'no such pipeline: nope', true);
        try {
            $this->jobs->connect('nope')->push('a', 'b');
            self::fail('an error answer must raise');
        } catch (JobsException $e) {
            self::assertStringContainsString('no such pipeline: nope', $e->getMessage());
            self::assertStringContainsString('jobs.Push', $e->getMessage());
            self::assertInstanceOf(ServiceException::class, $e->getPrevious());
        }
    }

    public function testPushOfATaskTakesOptionsButNoPayload(): void
    {
        $queue = $this->jobs->connect('p1');
        $this->answer('jobs.Push');
        $queue->push($queue->create('a', 'b'), '', new Options(9));
        self::assertSame(9, (int) $this->request('jobs.Push', new PushRequest())->getJob()->getOptions()->getDelay());
        $this->expectException(\InvalidArgumentException::class);
        $queue->push($queue->create('a', 'b'), 'other');
    }

    public function testEmptyPipelineNamesAreRefusedBeforeSending(): void
    {
        try {
            $this->jobs->pause('');
            self::fail('empty name');
        } catch (\InvalidArgumentException) {
        }
        self::assertFalse($this->server->hasPending(), 'nothing was sent');
        $this->expectException(\InvalidArgumentException::class);
        $this->jobs->connect('');
    }
}
