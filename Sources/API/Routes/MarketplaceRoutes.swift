/// Routes of this area (being built; see issue 7).
enum MarketplaceRoutes {
    static let routes: [APIRoute] = []
}
