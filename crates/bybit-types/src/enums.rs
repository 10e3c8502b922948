//! Bybit's string enumerations (REFERENCE.md §8). Each keeps unknown values as `Unknown(text)`.

use crate::serde_helpers::wire_enum;

wire_enum! {
    /// Product category.
    #[non_exhaustive]
    pub enum Category {
        /// Spot.
        Spot = "spot",
        /// USDT and USDC perpetuals and futures.
        Linear = "linear",
        /// Inverse contracts.
        Inverse = "inverse",
        /// Options.
        Option = "option",
    }
}

wire_enum! {
    /// Order type.
    #[non_exhaustive]
    pub enum OrderType {
        /// Market order (executed by Bybit as an IOC limit at a protection price).
        Market = "Market",
        /// Limit order.
        Limit = "Limit",
    }
}

wire_enum! {
    /// Time in force.
    #[non_exhaustive]
    pub enum TimeInForce {
        /// Good till cancelled.
        Gtc = "GTC",
        /// Immediate or cancel.
        Ioc = "IOC",
        /// Fill or kill.
        Fok = "FOK",
        /// Maker only; cancelled if it would take.
        PostOnly = "PostOnly",
        /// Retail price improvement (approved market makers only).
        Rpi = "RPI",
    }
}

wire_enum! {
    /// Order status. Open: `New`, `PartiallyFilled`, `Untriggered`; the rest are closed.
    #[non_exhaustive]
    pub enum OrderStatus {
        /// Accepted, resting.
        New = "New",
        /// Partly filled, the rest resting.
        PartiallyFilled = "PartiallyFilled",
        /// A conditional order waiting for its trigger.
        Untriggered = "Untriggered",
        /// Refused by the matching engine.
        Rejected = "Rejected",
        /// Spot only: partly filled, then cancelled.
        PartiallyFilledCanceled = "PartiallyFilledCanceled",
        /// Completely filled.
        Filled = "Filled",
        /// Cancelled (for derivatives it may have executed quantity).
        Cancelled = "Cancelled",
        /// Transient: a conditional order that just triggered.
        Triggered = "Triggered",
        /// A TP/SL, conditional or OCO order cancelled before it triggered.
        Deactivated = "Deactivated",
    }
}

impl OrderStatus {
    /// Whether the order can still trade or trigger (`New`, `PartiallyFilled`, `Untriggered`).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::Untriggered
        )
    }
}

wire_enum! {
    /// Execution type.
    #[non_exhaustive]
    pub enum ExecType {
        /// A normal fill.
        Trade = "Trade",
        /// Auto-deleveraging fill.
        AdlTrade = "AdlTrade",
        /// Funding fee.
        Funding = "Funding",
        /// Liquidation fill.
        BustTrade = "BustTrade",
        /// Delivery.
        Delivery = "Delivery",
        /// Settlement.
        Settle = "Settle",
        /// Block trade.
        BlockTrade = "BlockTrade",
        /// Position move.
        MovePosition = "MovePosition",
        /// Spread leg.
        FutureSpread = "FutureSpread",
        /// Corporate action.
        CorporateAction = "CorporateAction",
        /// Classic accounts only.
        Unspecified = "UNKNOWN",
    }
}

wire_enum! {
    /// What a stop (conditional) order is. REST often returns `""` or `UNKNOWN` for plain orders.
    #[non_exhaustive]
    pub enum StopOrderType {
        /// Take profit.
        TakeProfit = "TakeProfit",
        /// Stop loss.
        StopLoss = "StopLoss",
        /// Trailing stop.
        TrailingStop = "TrailingStop",
        /// A conditional order.
        Stop = "Stop",
        /// Partial take profit.
        PartialTakeProfit = "PartialTakeProfit",
        /// Partial stop loss.
        PartialStopLoss = "PartialStopLoss",
        /// Spot TP/SL order.
        TpslOrder = "tpslOrder",
        /// One-cancels-other.
        OcoOrder = "OcoOrder",
        /// Maintenance-margin-rate close.
        MmRateClose = "MmRateClose",
        /// Bidirectional TP/SL.
        BidirectionalTpslOrder = "BidirectionalTpslOrder",
        /// A plain order, as REST spells it.
        Unspecified = "UNKNOWN",
    }
}

wire_enum! {
    /// Price used to trigger conditional orders and TP/SL.
    #[non_exhaustive]
    pub enum TriggerBy {
        /// Last traded price.
        LastPrice = "LastPrice",
        /// Index price.
        IndexPrice = "IndexPrice",
        /// Mark price.
        MarkPrice = "MarkPrice",
        /// No trigger price set, as REST spells it.
        Unspecified = "UNKNOWN",
    }
}

wire_enum! {
    /// TP/SL mode.
    pub enum TpslMode {
        /// The whole position, at market.
        Full = "Full",
        /// Part of the position; limit TP/SL allowed.
        Partial = "Partial",
    }
}

wire_enum! {
    /// Who created an order.
    #[non_exhaustive]
    pub enum CreateType {
        /// The user.
        CreateByUser = "CreateByUser",
        /// A conditional order that triggered.
        CreateByStopOrder = "CreateByStopOrder",
        /// A take-profit.
        CreateByTakeProfit = "CreateByTakeProfit",
        /// A partial take-profit.
        CreateByPartialTakeProfit = "CreateByPartialTakeProfit",
        /// A stop-loss.
        CreateByStopLoss = "CreateByStopLoss",
        /// A partial stop-loss.
        CreateByPartialStopLoss = "CreateByPartialStopLoss",
        /// A trailing stop.
        CreateByTrailingStop = "CreateByTrailingStop",
        /// Liquidation.
        CreateByLiq = "CreateByLiq",
        /// Admin closing.
        CreateByAdminClosing = "CreateByAdminClosing",
        /// Settlement.
        CreateBySettle = "CreateBySettle",
    }
}

wire_enum! {
    /// Why an order was cancelled.
    #[non_exhaustive]
    pub enum CancelType {
        /// The user (or a cancel that lost a race with a fill).
        CancelByUser = "CancelByUser",
        /// Reduce-only rule.
        CancelByReduceOnly = "CancelByReduceOnly",
        /// Before liquidation.
        CancelByPrepareLiq = "CancelByPrepareLiq",
        /// All orders before liquidation.
        CancelAllBeforeLiq = "CancelAllBeforeLiq",
        /// Before ADL.
        CancelByPrepareAdl = "CancelByPrepareAdl",
        /// All orders before ADL.
        CancelAllBeforeAdl = "CancelAllBeforeAdl",
        /// By an administrator.
        CancelByAdmin = "CancelByAdmin",
        /// Settlement.
        CancelBySettle = "CancelBySettle",
        /// TP/SL/TS cleared.
        CancelByTpSlTsClear = "CancelByTpSlTsClear",
        /// Self-match prevention.
        CancelBySmp = "CancelBySmp",
        /// Disconnect cancel-all.
        CancelByDcp = "CancelByDCP",
        /// Not cancelled (REST spelling).
        Unspecified = "UNKNOWN",
    }
}

wire_enum! {
    /// Position status.
    #[non_exhaustive]
    pub enum PositionStatus {
        /// Normal.
        Normal = "Normal",
        /// In liquidation.
        Liq = "Liq",
        /// Auto-deleveraging.
        Adl = "Adl",
    }
}

wire_enum! {
    /// Instrument trading status.
    #[non_exhaustive]
    pub enum InstrumentStatus {
        /// Not yet trading.
        PreLaunch = "PreLaunch",
        /// Trading.
        Trading = "Trading",
        /// Delivering.
        Delivering = "Delivering",
        /// Closed.
        Closed = "Closed",
    }
}

wire_enum! {
    /// Contract type.
    #[non_exhaustive]
    pub enum ContractType {
        /// USDT/USDC perpetual.
        LinearPerpetual = "LinearPerpetual",
        /// USDT/USDC dated futures.
        LinearFutures = "LinearFutures",
        /// Inverse perpetual.
        InversePerpetual = "InversePerpetual",
        /// Inverse futures.
        InverseFutures = "InverseFutures",
    }
}

wire_enum! {
    /// Account type.
    #[non_exhaustive]
    pub enum AccountType {
        /// Unified trading account.
        Unified = "UNIFIED",
        /// Classic derivatives account (accepted by configuration).
        Contract = "CONTRACT",
        /// Funding account.
        Fund = "FUND",
        /// Classic spot account.
        Spot = "SPOT",
    }
}

wire_enum! {
    /// Direction of the last price change (tickers `tickDirection`, public trade `L`).
    pub enum TickDirection {
        /// Up from the previous trade.
        PlusTick = "PlusTick",
        /// Same price as the previous trade, which was up.
        ZeroPlusTick = "ZeroPlusTick",
        /// Down from the previous trade.
        MinusTick = "MinusTick",
        /// Same price as the previous trade, which was down.
        ZeroMinusTick = "ZeroMinusTick",
    }
}

wire_enum! {
    /// Self-match prevention mode.
    #[non_exhaustive]
    pub enum SmpType {
        /// No self-match prevention (Bybit's default). Named as Bybit spells it, like every
        /// variant here; always written `SmpType::None`, so it is not mistaken for `Option`'s.
        None = "None",
        /// Cancel the resting (maker) order.
        CancelMaker = "CancelMaker",
        /// Cancel the incoming (taker) order.
        CancelTaker = "CancelTaker",
        /// Cancel both.
        CancelBoth = "CancelBoth",
    }
}

wire_enum! {
    /// How `slippageTolerance` is expressed on a market order.
    #[non_exhaustive]
    pub enum SlippageToleranceType {
        /// A number of ticks.
        TickSize = "TickSize",
        /// A percentage.
        Percent = "Percent",
        /// No tolerance set, as REST spells it.
        Unspecified = "UNKNOWN",
    }
}

wire_enum! {
    /// Account-wide margin mode (unified accounts).
    #[non_exhaustive]
    pub enum MarginMode {
        /// Isolated margin.
        IsolatedMargin = "ISOLATED_MARGIN",
        /// Cross margin.
        RegularMargin = "REGULAR_MARGIN",
        /// Portfolio margin.
        PortfolioMargin = "PORTFOLIO_MARGIN",
    }
}

wire_enum! {
    /// Which kinds of order a query or cancel-all covers.
    #[non_exhaustive]
    pub enum OrderFilter {
        /// Active plain orders.
        Order = "Order",
        /// Conditional orders.
        StopOrder = "StopOrder",
        /// TP/SL orders (spot).
        TpslOrder = "tpslOrder",
        /// One-cancels-other orders (spot).
        OcoOrder = "OcoOrder",
        /// Bidirectional TP/SL orders (spot).
        BidirectionalTpslOrder = "BidirectionalTpslOrder",
        /// Every open order (cancel-all on derivatives).
        OpenOrder = "OpenOrder",
    }
}

wire_enum! {
    /// Whether a public topic message replaces the local state or patches it.
    pub enum UpdateType {
        /// The full state: reset whatever was held.
        Snapshot = "snapshot",
        /// Only what changed since the last message.
        Delta = "delta",
    }
}
