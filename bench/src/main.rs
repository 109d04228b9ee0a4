//! The end-to-end load benchmark: a private Prosody on loopback, the
//! `gatehouse` binary of the same build with a gateway of the echo network,
//! and a load client in Rust that speaks only XMPP. Each scenario prints one
//! JSON line (`sessions` three: start-up, idle memory, reload): what it
//! measured, and the CPU seconds and peak RSS of the gateway, Prosody and
//! the client, read from `/proc`.
//!
//! ```sh
//! scripts/build-plugins
//! cargo build --release -p gatehouse -p gatehouse-bench
//! target/release/gatehouse-load roster-fill --contacts 5000
//! target/release/gatehouse-load roster-fill --contacts 5000 --fake-server
//! target/release/gatehouse-load echo --users 100 --messages 20000
//! target/release/gatehouse-load latency --users 10 --rate 1000 --messages 20000
//! target/release/gatehouse-load sessions --users 1000
//! target/release/gatehouse-load soak --users 100 --rate 1000 --seconds 1800
//! target/release/gatehouse-load groups --participants 1000 --messages 5000 --archive 100000
//! ```

mod burst;
mod groups;
mod proc;
mod sessions;
mod soak;
mod throughput;

use clap::{Parser, Subcommand};
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Gatehouse's end-to-end load benchmark")]
struct Cli {
    /// The plugin of `target/plugins/` to serve the echo network with.
    #[arg(long, default_value = "echo")]
    plugin: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Register, then wait until the client holds every roster item.
    RosterFill {
        #[arg(long, default_value_t = 1000)]
        contacts: u32,
        /// Against the tests' fake XMPP server (in this process, answering
        /// every push at once) instead of Prosody: the gateway's own cost.
        #[arg(long)]
        fake_server: bool,
    },
    /// Echo throughput: every user sends its share of the messages to its
    /// contacts, keeping `window` unanswered at most, as fast as they come
    /// back.
    Echo {
        #[arg(long, default_value_t = 1)]
        users: u32,
        #[arg(long, default_value_t = 20000)]
        messages: u32,
        #[arg(long, default_value_t = 64)]
        window: u32,
    },
    /// Echo latency: `users` users send `messages` in all at a steady
    /// total `rate` per second; round trip p50, p99 and max.
    Latency {
        #[arg(long, default_value_t = 10)]
        users: u32,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 20000)]
        messages: u32,
    },
    /// The pacing's latency: a `messages` burst to one user at the default
    /// rate, another user chatting meanwhile.
    Burst {
        #[arg(long, default_value_t = 1000)]
        messages: u32,
    },
    /// Groups: a join of a room of `participants`, groupchat echo of
    /// `messages` (`window` in flight), a MAM page of 50 from an archive of
    /// `archive`, memory per room; four JSON lines.
    Groups {
        #[arg(long, default_value_t = 1000)]
        participants: u32,
        #[arg(long, default_value_t = 5000)]
        messages: u32,
        #[arg(long, default_value_t = 64)]
        window: u32,
        #[arg(long, default_value_t = 100000)]
        archive: u32,
    },
    /// `users` users of 10 contacts: start-up (restart → all logged in),
    /// idle memory per user, and hot reload (file replaced → all on the new
    /// code); three JSON lines.
    Sessions {
        #[arg(long, default_value_t = 1000)]
        users: u32,
    },
    /// A steady `rate` for `seconds` over `users` users, one of them
    /// crashing its plugin instance every `crash_every` seconds: RSS
    /// samples, answers and errors.
    Soak {
        #[arg(long, default_value_t = 100)]
        users: u32,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 1800)]
        seconds: u64,
        #[arg(long, default_value_t = 60)]
        crash_every: u64,
    },
}

/// What the processes cost during a scenario.
pub struct Meter {
    gateway: u32,
    prosody: u32,
    gateway_cpu: f64,
    prosody_cpu: f64,
    client_cpu: f64,
}

impl Meter {
    /// Reads the processes' CPU time so far.
    pub fn start(gateway: u32, prosody: u32) -> Meter {
        Meter {
            gateway,
            prosody,
            gateway_cpu: proc::cpu_seconds(gateway),
            prosody_cpu: proc::cpu_seconds(prosody),
            client_cpu: proc::cpu_seconds(std::process::id()),
        }
    }

    /// Adds the CPU spent since [`Meter::start`] and the peak memory to a
    /// scenario's figures.
    pub fn report(&self, mut fields: Value) -> Value {
        let own = std::process::id();
        let extra = json!({
            "gateway_cpu_s": proc::cpu_seconds(self.gateway) - self.gateway_cpu,
            "prosody_cpu_s": proc::cpu_seconds(self.prosody) - self.prosody_cpu,
            "client_cpu_s": proc::cpu_seconds(own) - self.client_cpu,
            "gateway_peak_rss_kib": proc::peak_rss_kib(self.gateway),
            "prosody_peak_rss_kib": proc::peak_rss_kib(self.prosody),
            "client_peak_rss_kib": proc::peak_rss_kib(own),
        });
        if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
            fields.extend(extra.clone());
        }
        fields
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Scenario::RosterFill {
        contacts,
        fake_server: true,
    } = cli.scenario
    {
        println!(
            "{}",
            throughput::roster_fill_fake(&cli.plugin, contacts).await?
        );
        return Ok(());
    }
    let users = match cli.scenario {
        Scenario::RosterFill { .. } => 1,
        Scenario::Burst { .. } | Scenario::Groups { .. } => 2,
        Scenario::Echo { users, .. }
        | Scenario::Latency { users, .. }
        | Scenario::Sessions { users }
        | Scenario::Soak { users, .. } => users,
    };
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    prosody.add_accounts((0..users).map(|n| format!("load{n}")));
    // No rate limit, but for the burst, which measures the default one.
    let rates = match cli.scenario {
        Scenario::Burst { .. } => "",
        // `/history 100000` archives in one call.
        Scenario::Groups { .. } => {
            "messages_per_second = 1000000000\nupdates_per_second = 1000000000\ncall_timeout_ms = 600000"
        }
        _ => "messages_per_second = 1000000000",
    };
    let mut gateway =
        GatewayProcess::start_gateway(&prosody.component_address(), GATEWAY, &cli.plugin, rates);
    let server = format!("127.0.0.1:{}", prosody.c2s_port);
    let prosody_pid = prosody.pid().unwrap_or(0);
    let gateway_pid = gateway.pid();
    let meter = || Meter::start(gateway_pid, prosody_pid);
    let lines = match cli.scenario {
        Scenario::RosterFill { contacts, .. } => {
            vec![throughput::roster_fill(&server, contacts, meter).await?]
        }
        Scenario::Echo {
            users,
            messages,
            window,
        } => vec![throughput::echo(&server, users, messages, window, meter).await?],
        Scenario::Latency {
            users,
            rate,
            messages,
        } => vec![throughput::latency(&server, users, rate, messages, meter).await?],
        Scenario::Burst { messages } => vec![burst::burst(&server, messages, meter).await?],
        Scenario::Groups {
            participants,
            messages,
            window,
            archive,
        } => {
            groups::run(
                &server,
                gateway_pid,
                participants,
                messages,
                window,
                archive,
                meter,
            )
            .await?
        }
        Scenario::Sessions { users } => {
            sessions::run(&server, &mut gateway, prosody_pid, users).await?
        }
        Scenario::Soak {
            users,
            rate,
            seconds,
            crash_every,
        } => vec![soak::soak(&server, &gateway, users, rate, seconds, crash_every, meter).await?],
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
