//! The services' scenario tests, one module per area, in one test binary (one link instead of fourteen).
//! `support` is the clinic on the simulator that the scenarios share.

mod billing;
mod card_links;
mod card_refresh;
mod cards_on_gateways;
mod database_tls;
mod db_copy;
mod db_loss;
mod desk;
mod desk_races;
mod engine;
mod fault_suite;
mod it_admin;
mod live;
mod processor_log;
mod reconcile;
mod reminders;
mod reports;
mod scenarios;
mod security;
mod setup;
mod subscriptions;
mod support;
