//! The workflow's first step: checks an order and passes it on with its item count.
//! An invalid order fails with the error type `InvalidOrder`, which the state
//! machine catches (its `Rejected` state).
//!
//! `sls-rs invoke --local -f validate --data '{"orderId": "o-1", "items": [{"sku": "tea", "quantity": 2}]}'`

use serde::{Deserialize, Serialize};
use sls_rs_runtime::{Diagnostic, Error, LambdaEvent};

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: String,
    items: Vec<Line>,
    #[serde(default)]
    item_count: u32,
}

/// Why an order is refused. Lambda reports it with the error type `InvalidOrder`
/// (its `Diagnostic`), which the state machine's `Catch` matches.
#[derive(Debug)]
struct InvalidOrder(String);

impl From<InvalidOrder> for Diagnostic {
    fn from(e: InvalidOrder) -> Diagnostic {
        Diagnostic {
            error_type: "InvalidOrder".into(),
            error_message: e.0,
        }
    }
}

async fn validate(event: LambdaEvent<Order>) -> Result<Order, InvalidOrder> {
    let mut order = event.payload;
    if order.items.is_empty() {
        return Err(InvalidOrder(format!(
            "order {} has no items",
            order.order_id
        )));
    }
    if let Some(line) = order.items.iter().find(|l| l.quantity == 0) {
        return Err(InvalidOrder(format!(
            "order {}: {} has quantity 0",
            order.order_id, line.sku
        )));
    }
    order.item_count = order.items.iter().map(|l| l.quantity).sum();
    tracing::info!(order = %order.order_id, items = order.item_count, "valid");
    Ok(order)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(validate).await
}
