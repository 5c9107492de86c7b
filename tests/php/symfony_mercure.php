<?php
// The Symfony Mercure component (Debian php-symfony-mercure) against a running hub, as a Symfony
// application would use it. Run by tests/clients.rs with HUB_URL and HUB_KEY set; exits non-zero
// on the first failed check.
declare(strict_types=1);

require_once 'Symfony/Component/Mercure/autoload.php';

use Symfony\Component\HttpClient\HttpClient;
use Symfony\Component\Mercure\Exception\RuntimeException;
use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\FactoryTokenProvider;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Jwt\TokenFactoryInterface;
use Symfony\Component\Mercure\Update;

/**
 * An HS256 token factory with the same contract as the bundle's LcobucciFactory (which needs
 * lcobucci/jwt, not packaged in Debian): a `mercure` claim with `publish`/`subscribe`.
 */
final class HmacTokenFactory implements TokenFactoryInterface
{
    public function __construct(private string $secret, private ?int $lifetime = 3600)
    {
    }

    public function create(?array $subscribe = [], ?array $publish = [], array $additionalClaims = []): string
    {
        $claims = ['mercure' => ['publish' => $publish ?? [], 'subscribe' => $subscribe ?? []]];
        if ($this->lifetime !== null) {
            $claims['exp'] = time() + $this->lifetime;
        }
        foreach ($additionalClaims as $name => $value) {
            if ($name === 'mercure') {
                $claims['mercure'] = array_merge($claims['mercure'], $value);
            } else {
                $claims[$name] = $value;
            }
        }
        $b64 = static fn (string $s): string => rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
        $head = $b64(json_encode(['typ' => 'JWT', 'alg' => 'HS256']));
        $body = $b64(json_encode($claims, JSON_UNESCAPED_SLASHES));

        return "$head.$body.".$b64(hash_hmac('sha256', "$head.$body", $this->secret, true));
    }
}

function check(bool $ok, string $what): void
{
    if (!$ok) {
        fwrite(STDERR, "FAIL: $what\n");
        exit(1);
    }
    echo "ok - $what\n";
}

$hubUrl = getenv('HUB_URL').'/.well-known/mercure';
$factory = new HmacTokenFactory(getenv('HUB_KEY'));
$client = HttpClient::create();

// 1. As MERCURE_JWT_SECRET configures it in a Symfony app: a factory-made publisher token.
$hub = new Hub($hubUrl, new FactoryTokenProvider($factory, [], ['*']), $factory);
$publicId = $hub->publish(new Update('https://example.com/php/books/1', json_encode(['status' => 'OutOfStock'])));
check(str_starts_with($publicId, 'urn:uuid:'), "public update published, id $publicId");
$privateId = $hub->publish(new Update(
    ['https://example.com/php/books/1', 'https://example.com/php/users/dunglas/books/1'],
    'private data',
    true,
    'php-private-1',
    'book-updated',
    1500
));
check($privateId === 'php-private-1', 'private update with id, type, retry and an alternate topic');

// 2. As MERCURE_JWT_TOKEN configures it: a static token.
$static = new Hub($hubUrl, new StaticTokenProvider($factory->create([], ['https://example.com/php/books/{id}'])));
$staticId = $static->publish(new Update('https://example.com/php/books/2', 'from a static token', false, 'php-static-1'));
check($staticId === 'php-static-1', 'published with StaticTokenProvider');

// 3. A token without the right publish grant: the component reports the hub's refusal.
$forbidden = new Hub($hubUrl, new StaticTokenProvider($factory->create([], ['https://example.com/elsewhere'])));
try {
    $forbidden->publish(new Update('https://example.com/php/books/3', 'nope'));
    check(false, 'a publish outside the grant must fail');
} catch (RuntimeException $e) {
    check($e->getPrevious() !== null && str_contains($e->getPrevious()->getMessage(), '403'), 'publish outside the grant refused with 403');
}

// 4. What a subscriber sees: replay the history with a subscriber token from the same factory
// (as the Authorization helper makes cookies), streamed with Symfony HttpClient.
$subscriberToken = $factory->create(['https://example.com/php/users/dunglas/books/{id}']);
$response = $client->request('GET', $hubUrl, [
    'query' => ['topic' => 'https://example.com/php/books/{id}', 'lastEventID' => 'earliest'],
    'headers' => ['Authorization' => "Bearer $subscriberToken", 'Accept' => 'text/event-stream'],
    'buffer' => false,
]);
check($response->getStatusCode() === 200, 'subscribed with a factory-made token');
$stream = '';
foreach ($client->stream($response, 5.0) as $chunk) {
    if ($chunk->isTimeout()) {
        break;
    }
    $stream .= $chunk->getContent();
    if (str_contains($stream, 'id: php-static-1')) {
        break;
    }
}
$response->cancel();
check(str_contains($stream, "id: $publicId\ndata: {\"status\":\"OutOfStock\"}\n"), 'the public update is replayed');
check(str_contains($stream, "event: book-updated\nretry: 1500\nid: php-private-1\ndata: private data\n")
    || (str_contains($stream, 'event: book-updated') && str_contains($stream, 'retry: 1500') && str_contains($stream, "id: php-private-1\n")), 'the private update reaches the granted subscriber, with its type and retry');
check(str_contains($stream, 'id: php-static-1'), 'the static-token update is replayed');
echo "php: all checks passed\n";
